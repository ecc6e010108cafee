"""The simulator's database side: the trips it may take and its fleet records (real Postgres)."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from realtime_engine.simulation.runner import (
    SIMULATOR_USERNAME,
    SimulationError,
    fleet_prepare,
    fleet_release,
    trip_candidates_read,
    trip_motion_for,
)
from runs.domain.lifecycle.events import RunEvent
from runs.domain.lifecycle.roles import ActorRole
from runs.domain.lifecycle.states import RunState
from runs.models import Vehicle
from runs.services.lifecycle import run_create, run_event_apply
from schedule_engine.demo_network import AGENCY_TIMEZONE, DEMO_NETWORK_DIR
from schedule_engine.models import Trip
from schedule_engine.testing import import_feed

pytestmark = pytest.mark.django_db

ALDERPORT = ZoneInfo(AGENCY_TIMEZONE)


def local(*args) -> float:
    return dt.datetime(*args, tzinfo=ALDERPORT).timestamp()


def test_the_simulator_needs_a_current_feed():
    with pytest.raises(SimulationError, match="import_gtfs"):
        trip_candidates_read(local(2026, 11, 21, 22, 0))


def test_trips_running_now_are_offered_and_at_night_every_trip_departs_now():
    import_feed(DEMO_NETWORK_DIR)
    evening = local(2026, 11, 21, 22, 0)  # a Saturday
    offered = trip_candidates_read(evening)
    due = [c for c in offered if c.due(evening)]
    assert due and all(c.trip_id.split("-")[1] == "SA" for c in due)
    assert all(c.service_date == dt.date(2026, 11, 21) for c in due)
    assert all(c.origin is not None for c in offered)
    # After the last trip (00:31) and before the first (05:00): nothing runs, so every
    # trip of the feed is offered as departing now, on today's service date.
    night = local(2026, 11, 22, 3, 0)
    fallback = trip_candidates_read(night)
    assert len(fallback) == Trip.objects.count()
    assert all(c.due(night) and c.service_date == dt.date(2026, 11, 22) for c in fallback)
    motion = trip_motion_for(fallback[0].trip_id, seed="1")
    assert motion is not None and len(motion.stops) >= 2
    assert trip_motion_for("no-such-trip", seed="1") is None


def test_the_fleet_is_created_once_and_a_previous_session_runs_are_released(redis_client):
    import_feed(DEMO_NETWORK_DIR)
    actor, fleet = fleet_prepare(2)
    assert [v.vehicle_id for v in fleet] == ["SIM-001", "SIM-002"]
    assert actor.role is ActorRole.DISPATCHER
    assert actor.user_id is not None
    run = run_create(
        actor=actor,
        vehicle=fleet[0].vehicle,
        trip_id="1-WK-0-05:00",
        start_date=dt.date(2026, 11, 23),
        operator=fleet[0].operator,
    ).run
    run_event_apply(run_id=run.pk, event=RunEvent.RUN_CONFIRMED_BY_OPERATOR, actor=actor)

    again, fleet_again = fleet_prepare(2)
    assert again == actor
    assert [v.operator.pk for v in fleet_again] == [v.operator.pk for v in fleet]
    assert Vehicle.objects.filter(id__startswith="SIM-").count() == 2
    assert fleet_release(fleet_again, again) == 1
    run.refresh_from_db()
    assert run.state is RunState.CANCELLED
    assert run.transitions.last().actor.username == SIMULATOR_USERNAME
