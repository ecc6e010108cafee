"""Start real service and worker processes for tests: private brokers, Celery workers.

Each helper returns a handle that stops its process; tests use them through the
fixtures in the root conftest.py.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(predicate: Callable[[], bool], timeout: float, what: str, interval: float = 0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(interval)
    raise TimeoutError(f"timed out after {timeout}s waiting for {what}")


def port_answers(port: int, host: str = "127.0.0.1") -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.3):
            return True
    except OSError:
        return False


@dataclass
class ManagedProcess:
    process: subprocess.Popen
    log_path: Path

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 20.0) -> None:
        if self.process.poll() is not None:
            return
        self.process.send_signal(sig)
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=5)

    def kill(self) -> None:
        self.stop(signal.SIGKILL)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


def start_mosquitto(
    workdir: Path,
    port: int | None = None,
    extra_conf: str = "",
    *,
    conf: str = "mosquitto.conf",
    listeners: Mapping[int, int] | None = None,
    mounts: Mapping[str, Path] | None = None,
    user: str | None = None,
) -> tuple[ManagedProcess, int]:
    """A private broker with a shipped configuration (``deploy/mosquitto/<conf>``) on loopback.

    The shipped 1883 listener answers on ``port`` (default: a free one); another shipped
    listener on ``listeners[<its port>]``, or it is left out with its options. ``mounts``
    maps a container directory (``/mosquitto/config``) to a local one, as compose's
    volumes do. The broker runs as ``user``; by default as root when we are root (it
    would drop to ``mosquitto``, which cannot write a root-owned folder).
    """
    port = port or free_port()
    workdir.mkdir(parents=True, exist_ok=True)
    shipped = (ROOT / "deploy/mosquitto" / conf).read_text().splitlines()
    ports = {1883: port, **(listeners or {})}
    lines = _local_broker_conf(shipped, ports, mounts or {})
    lines.append(f"persistence_location {workdir}/")
    if user or os.geteuid() == 0:
        lines.append(f"user {user or 'root'}")
    if extra_conf:
        lines.append(extra_conf)
    conf_path = workdir / "mosquitto.conf"
    conf_path.write_text("\n".join(lines) + "\n")
    log_path = workdir / "mosquitto.log"
    with log_path.open("ab") as log:
        process = subprocess.Popen(["mosquitto", "-c", str(conf_path)], stdout=log, stderr=log)
    handle = ManagedProcess(process, log_path)
    for listening in _listener_ports(lines):
        wait_for(lambda p=listening: port_answers(p), 10, f"mosquitto on {listening}")
    return handle, port


def _local_broker_conf(
    shipped: list[str], ports: Mapping[int, int], mounts: Mapping[str, Path]
) -> list[str]:
    """The shipped lines with each listener moved to its local loopback port (or left out,
    with the options that follow it) and container paths mapped to local ones."""
    lines, keep = [], True
    for line in shipped:
        directive, *values = line.split() or [""]
        if directive == "listener":
            local_port = ports.get(int(values[0]))
            keep = local_port is not None
            if keep:
                lines.append(f"listener {local_port} 127.0.0.1")
        elif keep and directive != "persistence_location":
            for container_dir, local_dir in mounts.items():
                line = line.replace(f"{container_dir.rstrip('/')}/", f"{local_dir}/")
            lines.append(line)
    return lines


def _listener_ports(lines: list[str]) -> list[int]:
    return [int(line.split()[1]) for line in lines if line.startswith("listener ")]


def start_redis(
    workdir: Path, port: int | None = None, extra_args: Sequence[str] = ()
) -> tuple[ManagedProcess, int]:
    """A Redis without persistence (or with what ``extra_args`` override) in ``workdir``."""
    port = port or free_port()
    workdir.mkdir(parents=True, exist_ok=True)
    log_path = workdir / "redis.log"
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(workdir),
                *extra_args,
            ],
            stdout=log,
            stderr=log,
        )
    handle = ManagedProcess(process, log_path)
    wait_for(lambda: port_answers(port), 10, f"redis on {port}")
    return handle, port


def uvicorn_command(port: int, *, graceful_shutdown_s: int = 1) -> list[str]:
    """The ASGI server as the compose files, the Dockerfile and the demo run it, on loopback.

    Without per-message deflate: compressing each connection's copy of the same live
    stream costs more CPU than it saves (docs/api/websocket.md).
    """
    return [
        sys.executable,
        "-m",
        "uvicorn",
        "backend.asgi:application",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--log-level",
        "warning",
        "--timeout-graceful-shutdown",
        str(graceful_shutdown_s),
        "--ws-per-message-deflate",
        "false",
    ]


def _start_celery(env: dict[str, str], logdir: Path, name: str, args: list[str]) -> ManagedProcess:
    """``celery -A databus <args>`` from the checkout, its output in ``logdir/<name>.log``."""
    logdir.mkdir(parents=True, exist_ok=True)
    log_path = logdir / f"{name}.log"
    command = [sys.executable, "-m", "celery", "-A", "databus", *args]
    with log_path.open("ab") as log:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    return ManagedProcess(process, log_path)


def start_celery_worker(
    env: dict[str, str], logdir: Path, *, name: str, args: tuple[str, ...] = (), beat: bool = False
) -> ManagedProcess:
    """A real `celery -A databus worker` process (solo pool) with the given environment."""
    command = [
        "worker",
        "--pool=solo",
        "--loglevel=INFO",
        "-n",
        f"{name}@%h",
        "--without-gossip",
        "--without-mingle",
        *args,
    ]
    if beat:
        command += ["--beat", "--schedule", str(logdir / f"{name}-beat-schedule")]
    return _start_celery(env, logdir, name, command)


def start_celery_beat(env: dict[str, str], logdir: Path, *, name: str) -> ManagedProcess:
    """A real standalone `celery -A databus beat`, as deployed (one process of its own)."""
    schedule = str(logdir / f"{name}-schedule")
    return _start_celery(env, logdir, name, ["beat", "--loglevel=INFO", "--schedule", schedule])


PG_BIN = Path("/usr/lib/postgresql/15/bin")


@dataclass
class PrivatePostgres:
    """A PostgreSQL cluster of a test's own, which it may stop, kill and start again."""

    datadir: Path
    port: int
    log_path: Path

    @property
    def url(self) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/postgres"

    def database_url(self, name: str) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{name}"

    def _pg_ctl(self, *args: str) -> None:
        options = f"-p {self.port} -k {self.datadir.parent} -c listen_addresses=127.0.0.1"
        command = [str(PG_BIN / "pg_ctl"), "-D", str(self.datadir), "-o", options]
        command += ["-l", str(self.log_path), "-w", *args]
        _as_postgres(command)

    def start(self) -> None:
        self._pg_ctl("start")
        wait_for(lambda: port_answers(self.port), 20, f"postgres on {self.port}")

    def stop(self, mode: str = "fast") -> None:
        self._pg_ctl("stop", "-m", mode)

    def restart(self, mode: str = "fast") -> None:
        self._pg_ctl("restart", "-m", mode)
        wait_for(lambda: port_answers(self.port), 20, f"postgres on {self.port}")

    def remove(self) -> None:
        """Stop the cluster (immediately) and delete its folder."""
        with contextlib.suppress(subprocess.CalledProcessError):
            self.stop("immediate")
        shutil.rmtree(self.datadir.parent, ignore_errors=True)

    def create_database(self, name: str) -> None:
        _as_postgres(
            [
                str(PG_BIN / "createdb"),
                "-h",
                "127.0.0.1",
                "-p",
                str(self.port),
                "-U",
                "postgres",
                name,
            ]
        )


def _as_postgres(command: list[str]) -> None:
    """initdb and pg_ctl refuse root: run them as the ``postgres`` user when we are root."""
    if os.geteuid() == 0:
        quoted = " ".join(f"'{part}'" for part in command)
        command = ["su", "postgres", "-s", "/bin/bash", "-c", quoted]
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def start_postgres(workdir: Path | None = None, port: int | None = None) -> PrivatePostgres:
    """A fresh trust-auth cluster on a free loopback port (TESTING.md's recipe).

    Without ``workdir`` the cluster lives in a new folder under the system temp dir,
    which the ``postgres`` user can reach (pytest's ``tmp_path`` is private to root).
    ``PrivatePostgres.remove`` stops it and deletes that folder.
    """
    port = port or free_port()
    if workdir is None:
        workdir = Path(tempfile.mkdtemp(prefix="databus-pg-"))
        workdir.chmod(0o755)
    workdir.mkdir(parents=True, exist_ok=True)
    if os.geteuid() == 0:
        subprocess.run(["chown", "-R", "postgres", str(workdir)], check=True)
    datadir = workdir / "pg"
    _as_postgres([str(PG_BIN / "initdb"), "-D", str(datadir), "-U", "postgres", "--auth=trust"])
    cluster = PrivatePostgres(datadir, port, workdir / "pg.log")
    cluster.start()
    return cluster
