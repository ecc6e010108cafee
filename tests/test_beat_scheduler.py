"""Beat told to stop (SIGTERM) in the middle of a tick still sends the task that tick reserved.

A tick records an entry's next run (``reserve``, saved with the schedule on exit) and
then sends it. The signal here is real, sent to this process between the two; the
handler does what celery beat's does (raise SystemExit); the task goes to the real
broker, on a queue of the test's own.
"""

from __future__ import annotations

import datetime as dt
import os
import signal
import uuid

import pytest
import redis
from celery.beat import PersistentScheduler
from django.conf import settings

from databus.beat_scheduler import TickFinishingScheduler
from databus.celery import app


def tick_stopped_after_reserve(
    scheduler_cls: type[PersistentScheduler], tmp_path, queue: str
) -> tuple[list[str], list[str]]:
    """(reserved, sent) entries of a tick during which SIGTERM arrives."""
    reserved: list[str] = []
    sent: list[str] = []

    class Recording(scheduler_cls):
        def reserve(self, entry):
            new_entry = super().reserve(entry)
            reserved.append(entry.name)
            os.kill(os.getpid(), signal.SIGTERM)  # beat is stopped in mid-tick
            return new_entry

        def apply_entry(self, entry, producer=None):
            super().apply_entry(entry, producer=producer)
            sent.append(entry.name)

    def beat_stops(signum, frame):  # celery beat's handler (apps/beat.py), less the save
        raise SystemExit()

    previous = signal.signal(signal.SIGTERM, beat_stops)
    try:
        scheduler = Recording(app=app, schedule_filename=str(tmp_path / "schedule"))
        scheduler.update_from_dict(
            {"purge": {"task": "databus.ping", "schedule": 86_400.0, "options": {"queue": queue}}}
        )
        scheduler.schedule["purge"].last_run_at = app.now() - dt.timedelta(days=2)
        with pytest.raises(SystemExit):
            scheduler.tick()
    finally:
        signal.signal(signal.SIGTERM, previous)
    return reserved, sent


@pytest.fixture
def broker_queue():
    name = f"test-beat-{uuid.uuid4().hex[:8]}"
    yield name
    redis.Redis.from_url(settings.CELERY_BROKER_URL).delete(name)


def test_a_tick_stopped_by_sigterm_sends_the_task_it_reserved(tmp_path, broker_queue, redis_client):
    """(``redis_client``: no other beat's lock is left to wait for, nor this one's after.)"""
    reserved, sent = tick_stopped_after_reserve(TickFinishingScheduler, tmp_path, broker_queue)
    assert reserved == sent == ["purge"]
    assert redis.Redis.from_url(settings.CELERY_BROKER_URL).llen(broker_queue) == 1


def test_celery_beats_own_scheduler_loses_the_reserved_task(tmp_path, broker_queue):
    """Why the scheduler exists: the daily task counts as run, and was never sent."""
    reserved, sent = tick_stopped_after_reserve(PersistentScheduler, tmp_path, broker_queue)
    assert (reserved, sent) == (["purge"], [])


def test_beat_runs_the_tick_finishing_scheduler():
    assert app.conf.beat_scheduler == "databus.beat_scheduler:TickFinishingScheduler"
