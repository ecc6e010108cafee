"""Make sure PostgreSQL, Redis and an MQTT broker answer where the settings point.

Run by `make test` and `make demo` before anything else. For each configured
address: if something answers, use it; if nothing listens and the server binary
is installed, start a private instance under `.run/` on loopback; if the binary
is missing, stop with the exact command that installs it. Standard library plus
psycopg only (it runs before Django is configured).

Usage: python scripts/ensure_services.py [--create-database]
"""

from __future__ import annotations

import argparse
import glob
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from databus import env  # noqa: E402

RUN_DIR = ROOT / ".run"
INSTALL = {
    "postgres": "apt-get install -y postgresql",
    "redis": "apt-get install -y redis-server",
    "mosquitto": "apt-get install -y mosquitto",
}
LOOPBACK = {"127.0.0.1", "localhost", "::1"}


class ServiceError(RuntimeError):
    pass


def answers(host: str, port: int, timeout: float = 1.0) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def wait_until_answers(name: str, host: str, port: int, seconds: float = 30.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if answers(host, port, timeout=0.5):
            return
        time.sleep(0.2)
    raise ServiceError(f"{name}: started a private instance but {host}:{port} never answered")


def require_loopback(name: str, host: str, port: int) -> None:
    if host not in LOOPBACK:
        raise ServiceError(
            f"{name} does not answer at {host}:{port}; it is not a local address, "
            "so start it there or point the setting at a running instance"
        )


def find_binary(name: str, extra_globs: tuple[str, ...] = ()) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    for pattern in extra_globs:
        matches = sorted(glob.glob(pattern))
        if matches:
            return matches[-1]
    return None


def missing(service: str, host: str, port: int) -> ServiceError:
    return ServiceError(
        f"{service} does not answer at {host}:{port} and its server is not installed.\n"
        f"  Install it with:  sudo {INSTALL[service]}\n"
        f"  or point the setting at a running instance (see README, Configuration)."
    )


def ensure_redis(url: str, variable: str) -> str:
    address = env.parse_redis_url(url, variable=variable)
    if answers(address.host, address.port):
        return f"redis {address.host}:{address.port} answers"
    require_loopback("redis", address.host, address.port)
    binary = find_binary("redis-server")
    if not binary:
        raise missing("redis", address.host, address.port)
    data = RUN_DIR / f"redis-{address.port}"
    data.mkdir(parents=True, exist_ok=True)
    options = {
        "--port": str(address.port),
        "--bind": "127.0.0.1",
        "--save": "",
        "--appendonly": "no",
        "--daemonize": "yes",
        "--dir": str(data),
        "--logfile": str(data / "redis.log"),
        "--pidfile": str(data / "redis.pid"),
    }
    subprocess.run([binary, *(item for pair in options.items() for item in pair)], check=True)
    wait_until_answers("redis", "127.0.0.1", address.port)
    return f"redis {address.host}:{address.port} started under {data}"


def write_mosquitto_conf(port: int, data: Path) -> Path:
    shipped = (ROOT / "deploy/mosquitto/mosquitto.conf").read_text()
    lines = [
        line
        for line in shipped.splitlines()
        if not line.startswith(("listener", "persistence_location"))
    ]
    lines += [
        f"listener {port} 127.0.0.1",
        f"persistence_location {data}/",
        f"pid_file {data}/mosquitto.pid",
        f"log_dest file {data}/mosquitto.log",
    ]
    if os.geteuid() == 0:
        lines.append("user root")
    conf = data / "mosquitto.conf"
    conf.write_text("\n".join(lines) + "\n")
    return conf


def ensure_mosquitto(url: str) -> str:
    address = env.parse_mqtt_url(url)
    if answers(address.host, address.port):
        return f"mosquitto {address.host}:{address.port} answers"
    require_loopback("mosquitto", address.host, address.port)
    binary = find_binary("mosquitto", ("/usr/sbin/mosquitto",))
    if not binary:
        raise missing("mosquitto", address.host, address.port)
    data = RUN_DIR / f"mosquitto-{address.port}"
    data.mkdir(parents=True, exist_ok=True)
    conf = write_mosquitto_conf(address.port, data)
    subprocess.run([binary, "-c", str(conf), "-d"], check=True)
    wait_until_answers("mosquitto", "127.0.0.1", address.port)
    return f"mosquitto {address.host}:{address.port} started under {data}"


def _as_postgres_user(command: list[str]) -> list[str]:
    # initdb and postgres refuse to run as root.
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", *command]
    return command


def ensure_postgres(url: str) -> str:
    address = env.parse_database_url(url)
    if answers(address.host, address.port):
        return f"postgres {address.host}:{address.port} answers"
    require_loopback("postgres", address.host, address.port)
    pg_bin = find_binary("initdb", ("/usr/lib/postgresql/*/bin/initdb",))
    if not pg_bin:
        raise missing("postgres", address.host, address.port)
    bindir = Path(pg_bin).parent
    data = RUN_DIR / f"postgres-{address.port}"
    if not (data / "PG_VERSION").exists():
        data.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            shutil.chown(RUN_DIR, "postgres")
            shutil.chown(data, "postgres")
        initdb = [str(bindir / "initdb"), "-D", str(data), "-U", address.user]
        initdb += ["--auth=trust", "--encoding=UTF8", "--no-sync"]
        subprocess.run(_as_postgres_user(initdb), check=True, stdout=subprocess.DEVNULL)
    server_options = f"-p {address.port} -k {data} -c listen_addresses=127.0.0.1"
    pg_ctl = [str(bindir / "pg_ctl"), "-D", str(data), "-l", str(data / "server.log")]
    pg_ctl += ["-o", server_options, "-w", "start"]
    subprocess.run(_as_postgres_user(pg_ctl), check=True, stdout=subprocess.DEVNULL)
    wait_until_answers("postgres", "127.0.0.1", address.port)
    return f"postgres {address.host}:{address.port} started under {data}"


def create_database(url: str) -> str:
    import psycopg
    from psycopg import sql

    address = env.parse_database_url(url)
    params = dict(
        host=address.host,
        port=address.port,
        user=address.user,
        password=address.password or None,
        connect_timeout=5,
    )
    with psycopg.connect(dbname="postgres", autocommit=True, **params) as conn:
        exists = conn.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", (address.name,)
        ).fetchone()
        if exists:
            return f"database {address.name} exists"
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(address.name)))
        return f"database {address.name} created"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--create-database",
        action="store_true",
        help="also create the DATABASE_URL database if it is missing",
    )
    args = parser.parse_args(argv)
    database_url = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/databus")
    redis_urls = {
        "REDIS_URL": os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"),
        "CELERY_BROKER_URL": os.environ.get("CELERY_BROKER_URL", "redis://127.0.0.1:6379/1"),
        "CHANNEL_REDIS_URL": os.environ.get("CHANNEL_REDIS_URL", "redis://127.0.0.1:6379/2"),
    }
    # The Django cache (sign-in throttles): db 3 of REDIS_URL's server unless set, as settings.
    redis_urls["CACHE_REDIS_URL"] = os.environ.get(
        "CACHE_REDIS_URL", env.redis_url_with_db(redis_urls["REDIS_URL"], 3)
    )
    mqtt_url = os.environ.get("MQTT_URL", "mqtt://127.0.0.1:1883")
    try:
        print("services:", ensure_postgres(database_url))
        for variable, url in redis_urls.items():
            print("services:", ensure_redis(url, variable), f"({variable})")
        print("services:", ensure_mosquitto(mqtt_url))
        if args.create_database:
            print("services:", create_database(database_url))
    except (ServiceError, env.ConfigError, subprocess.CalledProcessError) as error:
        print(f"services: ERROR: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
