"""Two real `celery beat` processes on one Redis: one schedules, the other sends nothing,
and takes over when the first dies (SIGKILL: no release, the lock's TTL passes).

A private Redis is both hot state (the lock, the heartbeat) and broker; no worker runs, so
every task beat sends stays in the broker's queue, where the test reads each message's
task name and ``expires`` (beat sets it to the send time plus the interval). Every
periodic task runs every second here: one beat sends each one about once a second, two
would send it twice as often.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import os
import time
from collections import defaultdict

import pytest
import redis
from django.conf import settings

from databus import keys
from databus.task_records import HEARTBEAT_IDENTITY, periodic_tasks
from tests.support.processes import start_celery_beat, start_redis, wait_for

INTERVAL_S = 1.0
QUEUES = (settings.CELERY_TASK_DEFAULT_QUEUE, settings.FEED_BUILD_QUEUE)
# Settings of beat's entries that may be set to one second (all but the reports' daily
# summaries, which take 60 s at least).
SHORT_INTERVALS = {
    "PREDICTION_LOG_INTERVAL_S": "1",
    "PREDICTION_LOG_PARTITIONS_INTERVAL_S": "1",
    "POSITION_PARTITIONS_INTERVAL_S": "1",
    "PREDICTION_SAMPLES_INTERVAL_S": "1",
    "FEED_BUILD_INTERVAL_S": "1",
    "TRIP_OPERATIONS_SYNC_INTERVAL_S": "1",
    "RUN_SCAN_INTERVAL_S": "1",
}


@pytest.fixture
def private_redis(tmp_path):
    handle, port = start_redis(tmp_path / "redis")
    yield port
    handle.stop()


def beat_env(port: int) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        REDIS_URL=f"redis://127.0.0.1:{port}/0",
        CELERY_BROKER_URL=f"redis://127.0.0.1:{port}/1",
        CHANNEL_REDIS_URL=f"redis://127.0.0.1:{port}/2",
        CACHE_REDIS_URL=f"redis://127.0.0.1:{port}/3",
        BEAT_HEARTBEAT_INTERVAL_S="1",
        BEAT_LOCK_TTL_S="3",
        PYTHONUNBUFFERED="1",
        **SHORT_INTERVALS,
    )
    return env


def sends(broker: redis.Redis) -> dict[str, list[float]]:
    """Send times (epoch s) of every message in the queues (the default one and the feed
    builds'), by task name."""
    found: dict[str, list[float]] = defaultdict(list)
    queued = (raw for queue in QUEUES for raw in broker.lrange(queue, 0, -1))
    for raw in queued:
        headers = json.loads(raw)["headers"]
        expires = dt.datetime.fromisoformat(headers["expires"]).timestamp()
        found[headers["task"]].append(expires - INTERVAL_S)
    return {task: sorted(times) for task, times in found.items()}


def short_tasks() -> list[str]:
    return [task.task for task in periodic_tasks() if task.setting in SHORT_INTERVALS]


def assert_one_beat_sent(times: dict[str, list[float]], since: float, until: float) -> None:
    """Each task sent about once per interval between ``since`` and ``until``, never two
    sends within half an interval (two beats' sends interleave)."""
    for task in short_tasks():
        window = [t for t in times.get(task, []) if since <= t <= until]
        assert window, f"{task} never sent"
        gaps = [b - a for a, b in itertools.pairwise(window)]
        assert min(gaps, default=INTERVAL_S) >= INTERVAL_S / 2, (task, window)
        assert len(window) <= (until - since) / INTERVAL_S + 1, (task, window)


def holder(client: redis.Redis) -> str | None:
    return client.get(keys.BEAT_LOCK)


def test_two_beats_send_each_periodic_task_once_per_interval_and_the_second_takes_over(
    private_redis, tmp_path
):
    client = redis.Redis(port=private_redis, db=0, decode_responses=True)
    broker = redis.Redis(port=private_redis, db=1)
    env = beat_env(private_redis)
    first = start_celery_beat(env, tmp_path / "beats", name="beat-a")
    second = start_celery_beat(env, tmp_path / "beats", name="beat-b")
    try:
        wait_for(lambda: "does not hold the lock" in first.log() + second.log(), 60, "a standby")
        wait_for(lambda: "holds the lock" in first.log() + second.log(), 60, "a holder")
        started = time.time()
        time.sleep(6 * INTERVAL_S)
        both_alive = time.time()
        assert first.process.poll() is None and second.process.poll() is None
        assert_one_beat_sent(sends(broker), started, both_alive)

        # The holder dies without releasing the lock; the other takes over after the TTL.
        active, standby = (first, second) if "holds the lock" in first.log() else (second, first)
        dead_holder = holder(client)
        active.kill()
        wait_for(lambda: holder(client) not in (None, dead_holder), 30, "the standby's lock")
        wait_for(
            lambda: client.hget(keys.BEAT_HEARTBEAT, HEARTBEAT_IDENTITY) == holder(client),
            10,
            "the new holder's heartbeat",
        )
        taken_over = time.time()
        time.sleep(4 * INTERVAL_S)
        assert_one_beat_sent(sends(broker), taken_over, time.time())
        assert "holds the lock" in standby.log()
    finally:
        first.stop()
        second.stop()


def test_a_beat_stopped_releases_the_lock_for_the_next(private_redis, tmp_path):
    client = redis.Redis(port=private_redis, db=0, decode_responses=True)
    beat = start_celery_beat(beat_env(private_redis), tmp_path / "beats", name="beat-a")
    try:
        wait_for(lambda: holder(client) is not None, 60, "the lock")
    finally:
        beat.stop()
    assert beat.process.returncode == 0
    assert holder(client) is None  # released on SIGTERM, not left for its TTL
