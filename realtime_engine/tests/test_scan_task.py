"""The stale-run scan's beat task: registered under the name beat's schedule sends."""

from __future__ import annotations

from databus.beat import BEAT_SCHEDULE
from databus.celery import app
from realtime_engine.tasks import scan_stale_runs
from runs.domain.lifecycle.events import RunEvent
from runs.domain.lifecycle.states import RunState
from runs.domain.tests.domain_values import STOPS
from runs.tasks import run_event_detected
from runs.tests.fixtures.runs import write_position

pytest_plugins = [
    "runs.tests.fixtures.feed",
    "runs.tests.fixtures.people",
    "runs.tests.fixtures.runs",
]


def test_beat_s_scan_entry_names_this_task():
    name = BEAT_SCHEDULE["scan-stale-runs"]["task"]
    assert name == "runs.scan_stale_runs"
    assert app.tasks[name].run.__module__ == "realtime_engine.tasks"


def test_the_task_enqueues_one_event_per_silent_run(run_in_state, redis_client, monkeypatch):
    run = run_in_state(RunState.IN_PROGRESS)
    write_position(redis_client, run, lat=STOPS[1][1], lon=STOPS[1][2], speed=0.0, age_s=90)
    sent = []
    monkeypatch.setattr(run_event_detected, "delay", lambda *args: sent.append(args))

    assert scan_stale_runs.apply().get() == 1
    assert sent == [(str(run.pk), RunEvent.RUN_TRACKING_LOST.value, {})]
