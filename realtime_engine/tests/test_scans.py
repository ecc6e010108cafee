"""The stale-run scan over ``runs:last_seen``, against real Redis and PostgreSQL."""

from __future__ import annotations

from databus import keys
from realtime_engine.scans import scan_stale_runs
from runs.domain.lifecycle.events import RunEvent
from runs.domain.lifecycle.states import RunState
from runs.domain.lifecycle.thresholds import Thresholds
from runs.domain.tests.domain_values import STOPS
from runs.models import RunLifecycleTransition
from runs.tasks import run_event_detected
from runs.tests.fixtures.runs import write_position

pytest_plugins = [
    "runs.tests.fixtures.feed",
    "runs.tests.fixtures.people",
    "runs.tests.fixtures.runs",
]

THRESHOLDS = Thresholds()


def silence(client, run, seconds: float) -> None:
    """The vehicle's last ping was ``seconds`` ago (position and last-seen score)."""
    write_position(client, run, lat=STOPS[1][1], lon=STOPS[1][2], speed=0.0, age_s=seconds)


def test_a_silent_run_in_progress_loses_tracking(run_in_state, redis_client):
    run = run_in_state(RunState.IN_PROGRESS)
    silence(redis_client, run, 30)
    assert scan_stale_runs(redis_client, THRESHOLDS, enqueue=lambda r: None) == []
    silence(redis_client, run, 90)
    enqueued = []
    requests = scan_stale_runs(redis_client, THRESHOLDS, enqueue=enqueued.append)
    assert [(r.run_id, r.event) for r in requests] == [(str(run.pk), RunEvent.RUN_TRACKING_LOST)]
    assert enqueued == requests


def test_a_run_without_signal_for_too_long_expires(run_in_state, redis_client):
    run = run_in_state(RunState.NO_SIGNAL)
    silence(redis_client, run, 300)
    assert scan_stale_runs(redis_client, THRESHOLDS, enqueue=lambda r: None) == []
    silence(redis_client, run, 700)
    requests = scan_stale_runs(redis_client, THRESHOLDS, enqueue=lambda r: None)
    assert [r.event for r in requests] == [RunEvent.RUN_TRACKING_EXPIRED]
    result = run_event_detected.apply(args=(str(run.pk), RunEvent.RUN_TRACKING_EXPIRED.value))
    assert result.get()["state"] == "Cancelled"
    assert redis_client.zscore(keys.RUNS_LAST_SEEN, str(run.pk)) is None
    assert redis_client.get(keys.vehicle_current_run("V1")) is None
    last = RunLifecycleTransition.objects.filter(run=run).order_by("-id").first()
    assert (last.to_state, last.actor_role) == ("Cancelled", "system")


def test_runs_not_in_a_watched_state_are_left_alone(run_in_state, redis_client):
    run = run_in_state(RunState.TRACKING)
    silence(redis_client, run, 10_000)
    assert scan_stale_runs(redis_client, THRESHOLDS, enqueue=lambda r: None) == []


def test_the_beat_schedule_runs_the_scan():
    from django.conf import settings

    from databus.beat import BEAT_SCHEDULE

    entry = BEAT_SCHEDULE["scan-stale-runs"]
    assert entry["task"] == "runs.scan_stale_runs"
    assert entry["schedule"] == settings.RUN_SCAN_INTERVAL_S == 30.0
