"""A headway-based trip (frequencies.txt exact_times=0) is predicted from its position only.

The straight six-stop line of ``test_progression_observer`` (stops 400 m and 120 s apart,
every stop a timepoint), run as one instance of a frequency-based trip, through the real
observer (Redis, PostgreSQL). A bus far ahead of its instance's nominal times: with
exact_times=1 it has a timetable and is predicted to wait at the next timepoint; with
exact_times=0 it has none, and riders are told when it will come at its pace.
"""

from __future__ import annotations

import pytest

from realtime_engine import trip_schedules
from realtime_engine.progression import run_trips
from realtime_engine.tests.test_progression_observer import (
    SERVICE_DATE,
    START,
    assert_strictly_increasing,
    line_feed,
    observe,
    published_updates,
)
from runs.domain.lifecycle.states import RunState
from runs.models import Run, Vehicle
from runs.services.actors import actor_for_user
from runs.tests.fixtures.people import make_user
from runs.tests.fixtures.runs import walk_to
from schedule_engine import blocks
from schedule_engine.testing import import_feed, write_feed


def frequency_run(tmp_path, redis_client, exact_times: int) -> Run:
    feed = {
        **line_feed(),
        "frequencies.txt": "trip_id,start_time,end_time,headway_secs,exact_times\n"
        f"LT,10:00:00,11:00:00,600,{exact_times}\n",
    }
    import_feed(write_feed(tmp_path / f"line-{exact_times}", feed))
    trip_schedules.clear()
    run_trips.clear()
    blocks.clear()
    vehicle = Vehicle.objects.create(id="LV1", label="Line 1")
    run = Run.objects.create(
        vehicle=vehicle,
        route_id="L1",
        trip_id="LT",
        shape_id="LS",
        direction_id=0,
        start_date=SERVICE_DATE,
        start_time="10:00:00",
    )
    dispatcher = actor_for_user(make_user("line-dispatch", "dispatcher"))
    return walk_to(redis_client, run, RunState.IN_PROGRESS, dispatcher)


def drive_far_ahead(redis_client) -> dict[int, tuple[int, int]]:
    """Leave the first stop at 10:00, be at 1,000 m 80 s later (the schedule says 300 s):
    the remaining stops' predicted (arrival, departure), s after 10:00."""
    observe(redis_client, 0.0, 0, 0.0)
    observe(redis_client, 300.0, 25, 12.0)
    observe(redis_client, 1000.0, 80, 12.0)
    updates = published_updates(redis_client, Run.objects.get())
    assert_strictly_increasing(updates)
    return {
        u.stop_sequence: (u.arrival - int(START), u.departure - int(START))
        for u in updates.updates
        if not u.observed
    }


@pytest.mark.django_db
def test_headway_based_bus_is_predicted_at_its_own_pace(tmp_path, redis_client):
    frequency_run(tmp_path, redis_client, exact_times=0)
    ahead = drive_far_ahead(redis_client)
    # 200 m to the fourth stop at the template's 400 m per 120 s, then 120 s a stop.
    assert ahead == {7: (140, 140), 9: (260, 260), 10: (380, 380)}


@pytest.mark.django_db
def test_exact_times_bus_waits_at_its_next_timepoint(tmp_path, redis_client):
    frequency_run(tmp_path, redis_client, exact_times=1)
    ahead = drive_far_ahead(redis_client)
    # Due at the fourth stop at 360 s: it leaves no more than 2 min early, at 240 s.
    assert ahead[7] == (140, 240)
    assert ahead[9][0] == 360
