"""Parse the process environment into typed settings values.

Read by ``backend.settings``, by the MQTT publishers of ``realtime_engine`` and by
``scripts/ensure_services.py`` (which runs before Django is configured), so this module
imports only the standard library. It sits in ``databus``, the bottom layer, so that every
app may import it.
Every parser raises ``ConfigError`` with the variable name and what is wrong.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from urllib.parse import parse_qs, unquote, urlsplit


class ConfigError(ValueError):
    """An environment variable holds a value databus cannot use."""


_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def env_str(name: str, default: str) -> str:
    return os.environ.get(name, default)


def env_bool(name: str, default: bool = False) -> bool:
    raw = os.environ.get(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ConfigError(f"{name}={raw!r} is not a boolean (use true/false)")


def env_int(name: str, default: int, *, minimum: int | None = None) -> int:
    raw = os.environ.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not an integer") from None
    if minimum is not None and value < minimum:
        raise ConfigError(f"{name}={value} must be at least {minimum}")
    return value


def env_float(name: str, default: float) -> float:
    raw = os.environ.get(name)
    if raw is None:
        return default
    try:
        return float(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not a number") from None


def env_list(name: str, default: list[str]) -> list[str]:
    raw = os.environ.get(name)
    if raw is None:
        return default
    return [item.strip() for item in raw.split(",") if item.strip()]


@dataclass(frozen=True)
class DatabaseAddress:
    host: str
    port: int
    name: str
    user: str
    password: str


def parse_database_url(url: str, *, variable: str = "DATABASE_URL") -> DatabaseAddress:
    """``postgres://user:password@host:port/name`` → address; only PostgreSQL is supported."""
    parts = urlsplit(url)
    if parts.scheme not in {"postgres", "postgresql", "postgresql+psycopg"}:
        raise ConfigError(
            f"{variable}={_redact(url)!r}: scheme must be postgres:// or postgresql:// "
            f"(databus needs PostgreSQL), got {parts.scheme or 'none'!r}"
        )
    name = unquote(parts.path.lstrip("/"))
    if not name:
        raise ConfigError(f"{variable}={_redact(url)!r}: missing database name after the host")
    try:
        port = parts.port or 5432
    except ValueError:
        raise ConfigError(f"{variable}={_redact(url)!r}: port is not a number") from None
    return DatabaseAddress(
        host=parts.hostname or "127.0.0.1",
        port=port,
        name=name,
        user=unquote(parts.username or "postgres"),
        password=unquote(parts.password or ""),
    )


def django_database(address: DatabaseAddress) -> dict:
    return {
        "ENGINE": "django.db.backends.postgresql",
        "HOST": address.host,
        "PORT": str(address.port),
        "NAME": address.name,
        "USER": address.user,
        "PASSWORD": address.password,
        "CONN_MAX_AGE": 60,
        "CONN_HEALTH_CHECKS": True,
        "OPTIONS": {"connect_timeout": 3},
    }


@dataclass(frozen=True)
class RedisAddress:
    host: str
    port: int
    db: int
    password: str


def parse_redis_url(url: str, *, variable: str = "REDIS_URL") -> RedisAddress:
    parts = urlsplit(url)
    if parts.scheme not in {"redis", "rediss"}:
        raise ConfigError(f"{variable}={_redact(url)!r}: scheme must be redis:// or rediss://")
    db_text = parts.path.lstrip("/") or "0"
    if not db_text.isdigit():
        raise ConfigError(
            f"{variable}={_redact(url)!r}: database index {db_text!r} is not a number"
        )
    try:
        port = parts.port or 6379
    except ValueError:
        raise ConfigError(f"{variable}={_redact(url)!r}: port is not a number") from None
    return RedisAddress(
        host=parts.hostname or "127.0.0.1",
        port=port,
        db=int(db_text),
        password=unquote(parts.password or ""),
    )


@dataclass(frozen=True)
class MqttAddress:
    host: str
    port: int
    username: str | None
    password: str | None
    tls: bool


def parse_mqtt_url(url: str, *, variable: str = "MQTT_URL") -> MqttAddress:
    """``mqtt://[user:pass@]host[:port]`` or ``mqtts://…`` (TLS, default port 8883)."""
    parts = urlsplit(url)
    if parts.scheme not in {"mqtt", "mqtts", "tcp", "ssl"}:
        raise ConfigError(f"{variable}={_redact(url)!r}: scheme must be mqtt:// or mqtts://")
    tls = parts.scheme in {"mqtts", "ssl"} or parse_qs(parts.query).get("tls") == ["true"]
    try:
        port = parts.port or (8883 if tls else 1883)
    except ValueError:
        raise ConfigError(f"{variable}={_redact(url)!r}: port is not a number") from None
    if not parts.hostname:
        raise ConfigError(f"{variable}={_redact(url)!r}: missing host")
    return MqttAddress(
        host=parts.hostname,
        port=port,
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
        tls=tls,
    )


def _redact(url: str) -> str:
    parts = urlsplit(url)
    if parts.password:
        return url.replace(f":{parts.password}@", ":***@")
    return url


_HEADER_NAME = re.compile(r"[A-Za-z0-9-]+")


def env_proxy_ssl_header(name: str) -> tuple[str, str] | None:
    """The header a TLS-terminating proxy sets, as Django's ``SECURE_PROXY_SSL_HEADER``.

    ``X-Forwarded-Proto`` (value ``https`` meant) or ``X-Forwarded-Proto=https`` becomes
    ``("HTTP_X_FORWARDED_PROTO", "https")``; unset or empty: ``None`` (no proxy is trusted).
    Only set it behind a proxy that overwrites the header: Django believes whoever sends it.
    """
    raw = os.environ.get(name, "").strip()
    if not raw:
        return None
    header, _, value = raw.partition("=")
    header, value = header.strip(), value.strip() or "https"
    if not _HEADER_NAME.fullmatch(header):
        raise ConfigError(f"{name}={raw!r} is not a header name (e.g. X-Forwarded-Proto)")
    return "HTTP_" + header.upper().replace("-", "_"), value


def redis_url_with_db(url: str, db: int) -> str:
    """``url`` pointing at database ``db`` of the same server (a default that follows REDIS_URL,
    so a developer's private Redis also holds the cache)."""
    return urlsplit(url)._replace(path=f"/{db}").geturl()
