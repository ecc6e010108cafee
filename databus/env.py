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
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar
from urllib.parse import SplitResult, parse_qs, unquote, urlsplit


class ConfigError(ValueError):
    """An environment variable holds a value databus cannot use."""


T = TypeVar("T")
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def env_str(name: str, default: str) -> str:
    return os.environ.get(name, default)


def _parsed(name: str, convert: Callable[[str], T], expected: str) -> T | None:
    """The variable converted, None when it is unset. Text ``convert`` refuses (ValueError)
    is a ``ConfigError`` naming the variable and what was expected."""
    raw = os.environ.get(name)
    if raw is None:
        return None
    try:
        return convert(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not {expected}") from None


def _boolean(raw: str) -> bool:
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ValueError(value)


def _comma_separated(raw: str) -> list[str]:
    return [item.strip() for item in raw.split(",") if item.strip()]


def env_bool(name: str, default: bool = False) -> bool:
    value = _parsed(name, _boolean, "a boolean (use true/false)")
    return default if value is None else value


def env_int(name: str, default: int, *, minimum: int | None = None) -> int:
    """The variable as an integer; ``minimum`` bounds a value set in the environment."""
    value = _parsed(name, int, "an integer")
    if value is None:
        return default
    if minimum is not None and value < minimum:
        raise ConfigError(f"{name}={value} must be at least {minimum}")
    return value


def env_float(name: str, default: float) -> float:
    value = _parsed(name, float, "a number")
    return default if value is None else value


def env_list(name: str, default: list[str]) -> list[str]:
    value = _parsed(name, _comma_separated, "a comma-separated list")
    return default if value is None else value


@dataclass(frozen=True)
class ServerAddress:
    """Where a server listens; each URL parser below adds what its protocol needs."""

    host: str
    port: int


@dataclass(frozen=True)
class DatabaseAddress(ServerAddress):
    name: str
    user: str
    password: str


def parse_database_url(url: str, *, variable: str = "DATABASE_URL") -> DatabaseAddress:
    """``postgres://user:password@host:port/name`` → address; only PostgreSQL is supported."""
    parts = _split(
        url,
        variable,
        {"postgres", "postgresql", "postgresql+psycopg"},
        "scheme must be postgres:// or postgresql:// (databus needs PostgreSQL), got {got}",
    )
    name = unquote(parts.path.lstrip("/"))
    if not name:
        raise _url_error(variable, url, "missing database name after the host")
    return DatabaseAddress(
        host=parts.hostname or "127.0.0.1",
        port=_port(parts, 5432, url, variable),
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
class RedisAddress(ServerAddress):
    db: int
    password: str


def parse_redis_url(url: str, *, variable: str = "REDIS_URL") -> RedisAddress:
    parts = _split(url, variable, {"redis", "rediss"}, "scheme must be redis:// or rediss://")
    db_text = parts.path.lstrip("/") or "0"
    if not db_text.isdigit():
        raise _url_error(variable, url, f"database index {db_text!r} is not a number")
    return RedisAddress(
        host=parts.hostname or "127.0.0.1",
        port=_port(parts, 6379, url, variable),
        db=int(db_text),
        password=unquote(parts.password or ""),
    )


@dataclass(frozen=True)
class MqttAddress(ServerAddress):
    username: str | None
    password: str | None
    tls: bool


def parse_mqtt_url(url: str, *, variable: str = "MQTT_URL") -> MqttAddress:
    """``mqtt://[user:pass@]host[:port]`` or ``mqtts://…`` (TLS, default port 8883)."""
    parts = _split(
        url, variable, {"mqtt", "mqtts", "tcp", "ssl"}, "scheme must be mqtt:// or mqtts://"
    )
    tls = parts.scheme in {"mqtts", "ssl"} or parse_qs(parts.query).get("tls") == ["true"]
    port = _port(parts, 8883 if tls else 1883, url, variable)
    if not parts.hostname:
        raise _url_error(variable, url, "missing host")
    return MqttAddress(
        host=parts.hostname,
        port=port,
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
        tls=tls,
    )


def _split(url: str, variable: str, schemes: set[str], refusal: str) -> SplitResult:
    """The URL's parts if its scheme is one of ``schemes``; else ``refusal`` ("{got}" in it
    becomes the scheme given)."""
    parts = urlsplit(url)
    if parts.scheme not in schemes:
        raise _url_error(variable, url, refusal.format(got=repr(parts.scheme or "none")))
    return parts


def _port(parts: SplitResult, default: int, url: str, variable: str) -> int:
    try:
        return parts.port or default
    except ValueError:
        raise _url_error(variable, url, "port is not a number") from None


def _url_error(variable: str, url: str, problem: str) -> ConfigError:
    return ConfigError(f"{variable}={_redact(url)!r}: {problem}")


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
