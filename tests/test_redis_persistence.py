"""Production's Redis flags keep the DLQ, Celery's queue and the epoch marker through a crash.

A private redis-server runs with the persistence flags of ``compose.prod.yml``, is
killed with SIGKILL once the append-only file has been fsynced (``everysec``), and
started again on the same directory.
"""

from __future__ import annotations

import itertools
import shlex
import time

import redis as redis_py

from databus import keys
from tests.support.processes import start_redis
from tests.test_compose import load

PERSISTENCE_FLAGS = ("--appendonly", "--appendfsync", "--save")


def production_persistence_flags() -> list[str]:
    """The persistence flags of the production Redis command (not its password or limits)."""
    words = shlex.split(load("compose.prod.yml")["services"]["redis"]["command"][-1])
    flags = []
    for flag, value in itertools.pairwise(words):
        if flag in PERSISTENCE_FLAGS:
            flags += [flag, value]
    return flags


def test_a_killed_production_redis_comes_back_with_the_dlq_queue_and_marker(tmp_path):
    flags = production_persistence_flags()
    assert flags[flags.index("--appendonly") + 1] == "yes"
    handle, port = start_redis(tmp_path / "redis", extra_args=flags)
    try:
        hot = redis_py.Redis(port=port, db=0, decode_responses=True)
        broker = redis_py.Redis(port=port, db=1, decode_responses=True)
        hot.xadd(keys.TELEMETRY_DLQ, {"topic": "transit/vehicle/V1/position", "reason": "x"})
        hot.set(keys.HOT_STATE_EPOCH, "1790000000.0")
        broker.lpush("celery", '{"task": "runs.run_event_detected"}')
        time.sleep(1.5)  # past the next fsync (appendfsync everysec)
        handle.kill()
        handle, _ = start_redis(tmp_path / "redis", port=port, extra_args=flags)
        hot = redis_py.Redis(port=port, db=0, decode_responses=True)
        broker = redis_py.Redis(port=port, db=1, decode_responses=True)
        assert hot.xlen(keys.TELEMETRY_DLQ) == 1
        assert hot.get(keys.HOT_STATE_EPOCH) == "1790000000.0"  # no rebuild needed
        assert broker.lrange("celery", 0, -1) == ['{"task": "runs.run_event_detected"}']
    finally:
        handle.stop()
