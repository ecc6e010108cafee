"""Finished runs past their retention leave PostgreSQL with what hangs on them; live runs
and recent ones stay (``runs.services.retention``)."""

from __future__ import annotations

import datetime as dt

import pytest

from realtime_engine.models import SegmentTravelSample, StopEvent
from runs.domain.lifecycle.states import RunState
from runs.models import Run, RunLifecycleTransition
from runs.services.retention import finished_runs_purge

pytestmark = pytest.mark.django_db

NOW = dt.datetime(2026, 12, 2, 10, 0, tzinfo=dt.UTC)
AT = dt.datetime(2025, 1, 1, 8, 0, tzinfo=dt.UTC)


def run_of(vehicle, state: RunState, start_date: dt.date) -> Run:
    run = Run.objects.create(
        vehicle=vehicle,
        route_id="R1",
        trip_id="T1",
        shape_id="SH1",
        direction_id=0,
        start_date=start_date,
        start_time="08:00:00",
        run_lifecycle_state=state.value,
    )
    RunLifecycleTransition.objects.create(
        run=run,
        event="validate_run",
        from_state="Requested",
        to_state="Validated",
        accepted=True,
        actor_role="system",
        created_at=AT,
    )
    StopEvent.objects.create(
        run=run,
        trip_id="T1",
        service_date=start_date,
        stop_sequence=1,
        stop_id="S1",
        arrived_at=AT,
        source=StopEvent.Source.OBSERVED,
    )
    SegmentTravelSample.objects.create(
        run=run,
        stop_sequence=1,
        from_stop_id="S1",
        to_stop_id="S2",
        hour=8,
        arrived_at=AT,
        reached_at=AT + dt.timedelta(minutes=3),
    )
    return run


def test_finished_runs_past_retention_go_with_their_events(gtfs_feed, vehicle):
    old = dt.date(2025, 1, 1)
    completed = run_of(vehicle, RunState.COMPLETED, old)
    cancelled = run_of(vehicle, RunState.CANCELLED, old)
    live = run_of(vehicle, RunState.IN_PROGRESS, old)  # claiming: never purged
    recent = run_of(vehicle, RunState.COMPLETED, NOW.date() - dt.timedelta(days=10))
    edge = run_of(vehicle, RunState.INTERRUPTED, NOW.date() - dt.timedelta(days=400))

    purged = finished_runs_purge(retention_days=400, now=NOW, chunk=1)

    assert purged == 2
    kept = {live.pk, recent.pk, edge.pk}
    assert set(Run.objects.values_list("pk", flat=True)) == kept
    for model in (StopEvent, RunLifecycleTransition, SegmentTravelSample):
        assert set(model.objects.values_list("run_id", flat=True)) == kept
    assert not Run.objects.filter(pk__in=[completed.pk, cancelled.pk]).exists()


def test_nothing_to_purge_is_nothing_done(gtfs_feed, vehicle):
    run_of(vehicle, RunState.COMPLETED, NOW.date())
    assert finished_runs_purge(retention_days=1, now=NOW) == 0
    assert Run.objects.count() == 1
