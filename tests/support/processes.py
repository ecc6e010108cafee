"""Start real service and worker processes for tests: private brokers, Celery workers.

Each helper returns a handle that stops its process; tests use them through the
fixtures in the root conftest.py.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
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
    workdir: Path, port: int | None = None, extra_conf: str = ""
) -> tuple[ManagedProcess, int]:
    """A private broker with the project's shipped configuration on a free loopback port."""
    port = port or free_port()
    workdir.mkdir(parents=True, exist_ok=True)
    shipped = (ROOT / "deploy/mosquitto/mosquitto.conf").read_text().splitlines()
    lines = [ln for ln in shipped if not ln.startswith(("listener", "persistence_location"))]
    lines += [f"listener {port} 127.0.0.1", f"persistence_location {workdir}/"]
    if os.geteuid() == 0:
        lines.append("user root")
    if extra_conf:
        lines.append(extra_conf)
    conf = workdir / "mosquitto.conf"
    conf.write_text("\n".join(lines) + "\n")
    log_path = workdir / "mosquitto.log"
    with log_path.open("ab") as log:
        process = subprocess.Popen(["mosquitto", "-c", str(conf)], stdout=log, stderr=log)
    handle = ManagedProcess(process, log_path)
    wait_for(lambda: port_answers(port), 10, f"mosquitto on {port}")
    return handle, port


def start_redis(workdir: Path, port: int | None = None) -> tuple[ManagedProcess, int]:
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


def start_celery_worker(
    env: dict[str, str], logdir: Path, *, name: str, args: tuple[str, ...] = (), beat: bool = False
) -> ManagedProcess:
    """A real `celery -A databus worker` process (solo pool) with the given environment."""
    logdir.mkdir(parents=True, exist_ok=True)
    log_path = logdir / f"{name}.log"
    command = [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "databus",
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
        command.append("--beat")
        command += ["--schedule", str(logdir / f"{name}-beat-schedule")]
    with log_path.open("ab") as log:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    return ManagedProcess(process, log_path)
