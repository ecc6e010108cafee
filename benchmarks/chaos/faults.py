"""The fault matrix of `make chaos`: what each fault does to the stack, in the order they run.

A fault's ``inject`` breaks something and, where a supervisor would, brings it back
(a killed worker is restarted at once under the same name, so it resumes its MQTT
session, as a container restart would); it returns a note for the table. A fault
with ``undo`` leaves something running in a wrong configuration (a second worker, a
second beat) for ``hold_s`` after the checks first pass; ``undo`` then removes it and
the checks must pass again. Scaling the second worker in follows docs/operations.md
("Ingest sessions and replicas"): stop it, then ``manage.py ingest_session retire``.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Callable
from dataclasses import dataclass

from benchmarks.chaos.stack import Stack

WORKER = "chaos-a"
SECOND_WORKER = "chaos-b"
BEAT = "beat"
SECOND_BEAT = "beat-2"


@dataclass(frozen=True)
class Fault:
    name: str  # as given to --faults
    title: str
    inject: Callable[[Stack], str]
    undo: Callable[[Stack], str] | None = None
    hold_builds: int = 0  # feed build intervals to hold before undo


def _worker_sigkill(stack: Stack) -> str:
    stack.workers[WORKER].kill()
    stack.start_worker(WORKER)
    return "restarted at once, same name"


def _worker_sigterm(stack: Stack) -> str:
    started = time.monotonic()
    worker = stack.workers[WORKER]
    worker.stop(signal.SIGTERM, timeout=60)
    took = time.monotonic() - started
    stack.start_worker(WORKER)
    return f"exited {worker.process.returncode} in {took:.1f} s"


def _broker_restart(stack: Stack) -> str:
    stack.restart_broker(signal.SIGTERM)
    return "SIGTERM, started again"


def _broker_sigkill(stack: Stack) -> str:
    stack.restart_broker(signal.SIGKILL)
    return "SIGKILL, started again"


def _redis_restart(stack: Stack) -> str:
    import redis

    stack.restart_redis_empty()
    client = redis.Redis(port=stack.redis_port)
    return f"back with {client.dbsize()} keys"


def _postgres_restart(stack: Stack) -> str:
    started = time.monotonic()
    stack.restart_postgres()
    return f"pg_ctl restart -m fast, {time.monotonic() - started:.1f} s"


def _beat_kill(stack: Stack) -> str:
    stack.beats[BEAT].kill()
    down_s = 2 * stack.options.feed_build_interval_s + 1
    time.sleep(down_s)
    stack.start_beat(BEAT)
    return f"SIGKILL, down {down_s} s"


def _second_beat(stack: Stack) -> str:
    stack.start_beat(SECOND_BEAT)
    return "a second beat"


def _second_beat_stopped(stack: Stack) -> str:
    stack.beats.pop(SECOND_BEAT).stop()
    return "second beat stopped"


def _second_worker(stack: Stack) -> str:
    stack.start_worker(SECOND_WORKER)
    stack.wait_subscribed(SECOND_WORKER)
    return f"{SECOND_WORKER} joined the shared group"


def _second_worker_stopped(stack: Stack) -> str:
    """Scale in as the runbook says: stop the slot's worker, then retire its session."""
    worker = stack.workers.pop(SECOND_WORKER)
    worker.stop(signal.SIGTERM, timeout=60)
    retired = stack.manage("ingest_session", "retire", "--slot", SECOND_WORKER)
    said = (retired.stdout.strip() or retired.stderr.strip()).splitlines()[-1:]
    return (
        f"{SECOND_WORKER} scaled in (SIGTERM, exit {worker.process.returncode}; "
        f"ingest_session retire exit {retired.returncode}: {' '.join(said)[:160]})"
    )


FAULTS: tuple[Fault, ...] = (
    Fault("worker-sigkill", "worker SIGKILL", _worker_sigkill),
    Fault("worker-sigterm", "worker SIGTERM", _worker_sigterm),
    Fault("broker-restart", "broker restart", _broker_restart),
    Fault("broker-sigkill", "broker SIGKILL", _broker_sigkill),
    Fault("redis-restart", "Redis restart, empty", _redis_restart),
    Fault("postgres-restart", "PostgreSQL restart", _postgres_restart),
    Fault("beat-kill", "beat killed, restarted", _beat_kill),
    Fault("two-beats", "two beats", _second_beat, _second_beat_stopped, hold_builds=3),
    # Last: a worker that leaves the shared group may strand a share of the stream in its
    # session, which would fail every row after it.
    Fault("two-workers", "two workers, one group", _second_worker, _second_worker_stopped, 3),
)


def faults_select(names: str) -> tuple[Fault, ...]:
    """The faults named (comma-separated, in matrix order), or all for ``all``."""
    if names == "all":
        return FAULTS
    wanted = {name.strip() for name in names.split(",") if name.strip()}
    unknown = wanted - {fault.name for fault in FAULTS}
    if unknown:
        known = ", ".join(fault.name for fault in FAULTS)
        raise ValueError(f"unknown fault(s) {', '.join(sorted(unknown))}; known: {known}")
    return tuple(fault for fault in FAULTS if fault.name in wanted)
