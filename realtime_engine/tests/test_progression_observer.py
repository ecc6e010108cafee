"""The progression observer against real Redis and PostgreSQL, fed batch by batch.

A straight northbound trip of six stops 400 m apart (stop_sequence from 2 with gaps,
as WMATA's), imported through the schedule import; a run walked to In Progress
through the lifecycle service; positions handed to the observer as the consumer
hands them. What a rider and the agency rely on: the stop status, the durable stop
events (observed where a ping fell in the zone, interpolated where pings skipped
stops) and predictions that only ever move forward in time.
"""

from __future__ import annotations

import datetime as dt
import itertools

import pytest

from databus import keys
from realtime_engine import segment_history, trip_schedules
from realtime_engine.ingest.batch import AcceptedBatch
from realtime_engine.models import StopEvent
from realtime_engine.progression import written_runs
from realtime_engine.progression.matcher_store import progression_keys
from realtime_engine.progression.observer import observe_progression
from realtime_engine.progression.stop_events import RunStopEvent, stop_events_write
from realtime_engine.segment_samples import segment_samples_update
from runs.domain.lifecycle.states import RunState
from runs.domain.progression.stop_events import EventSource, StopCall
from runs.domain.telemetry import congestion_level, stop_time_updates, vehicle_stop_status
from runs.domain.telemetry.position import Position
from runs.models import Run, Vehicle
from runs.services.actors import actor_for_user
from runs.tests.fixtures.people import make_user
from runs.tests.fixtures.runs import walk_to
from schedule_engine.testing import import_feed, write_feed

METRES_PER_DEGREE = 111_195.0
LAT0, LON0 = 38.9000, -77.0300
SEQUENCES = (2, 4, 5, 7, 9, 10)
SPACING_M = 400.0
# Yesterday: the stop-event history the predictor reads covers the last weeks only.
SERVICE_DATE = (dt.datetime.now(dt.UTC) - dt.timedelta(days=1)).date()
START = dt.datetime.combine(SERVICE_DATE, dt.time(10), tzinfo=dt.UTC).timestamp()


def north(metres: float) -> tuple[float, float]:
    return LAT0 + metres / METRES_PER_DEGREE, LON0


def hhmmss(seconds: int) -> str:
    return f"{seconds // 3600:02d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


def line_feed() -> dict[str, str]:
    stops = [(f"P{i}", *north(i * SPACING_M)) for i in range(len(SEQUENCES))]
    shape = [north(-50.0), north((len(SEQUENCES) - 1) * SPACING_M + 50.0)]
    return {
        "agency.txt": "agency_id,agency_name,agency_url,agency_timezone\n"
        "LA,Line Agency,https://line.example,UTC\n",
        "stops.txt": "stop_id,stop_name,stop_lat,stop_lon\n"
        + "".join(f"{sid},{sid},{lat:.7f},{lon:.7f}\n" for sid, lat, lon in stops),
        "routes.txt": "route_id,agency_id,route_short_name,route_type\nL1,LA,1,3\n",
        "calendar.txt": "service_id,monday,tuesday,wednesday,thursday,friday,saturday,sunday,"
        "start_date,end_date\nALL,1,1,1,1,1,1,1,20260101,20271231\n",
        "shapes.txt": "shape_id,shape_pt_lat,shape_pt_lon,shape_pt_sequence\n"
        + "".join(f"LS,{lat:.7f},{lon:.7f},{i}\n" for i, (lat, lon) in enumerate(shape, 1)),
        "trips.txt": "route_id,service_id,trip_id,direction_id,shape_id\nL1,ALL,LT,0,LS\n",
        "stop_times.txt": "trip_id,arrival_time,departure_time,stop_id,stop_sequence\n"
        + "".join(
            f"LT,{hhmmss(36_000 + 120 * i)},{hhmmss(36_000 + 120 * i)},P{i},{seq}\n"
            for i, seq in enumerate(SEQUENCES)
        ),
    }


@pytest.fixture
def line_run(tmp_path, db, redis_client) -> Run:
    import_feed(write_feed(tmp_path / "line", line_feed()))
    trip_schedules.clear()
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


def position(metres: float, at_s: float, speed: float) -> Position:
    """The line bus ``metres`` along, ``at_s`` after 10:00, driving north."""
    lat, lon = north(metres)
    return Position(
        vehicle_id="LV1",
        latitude=lat,
        longitude=lon,
        timestamp=int(START + at_s),
        received_at=START + at_s,
        bearing=0.0,
        speed=speed,
    )


def observe(redis_client, metres: float, at_s: float, speed: float) -> None:
    latest = position(metres, at_s, speed)
    observe_progression(AcceptedBatch({"LV1": latest}, {}, START + at_s, 1), redis_client)


def stop_status(redis_client, run: Run) -> vehicle_stop_status.VehicleStopStatus | None:
    return vehicle_stop_status.from_redis(
        redis_client.hgetall(keys.run_vehicle_stop_status(str(run.pk)))
    )


def published_updates(redis_client, run: Run) -> stop_time_updates.StopTimeUpdates:
    value = stop_time_updates.from_redis(
        redis_client.hgetall(keys.run_stop_time_updates(str(run.pk)))
    )
    assert value is not None
    return value


def assert_strictly_increasing(updates: stop_time_updates.StopTimeUpdates) -> None:
    times = [t for u in updates.updates for t in (u.arrival, u.departure) if t is not None]
    arrivals = [u.arrival for u in updates.updates]
    assert times == sorted(times)
    assert all(b > a for a, b in itertools.pairwise(arrivals))
    sequences = [u.stop_sequence for u in updates.updates]
    assert sequences == sorted(set(sequences))


def test_positions_along_a_trip_publish_status_events_and_predictions(redis_client, line_run):
    observe(redis_client, 0.0, 0, 0.0)  # waiting at the first stop
    assert stop_status(redis_client, line_run) is None  # pre-trip: not published as on-route
    assert_strictly_increasing(published_updates(redis_client, line_run))

    observe(redis_client, 100.0, 40, 8.0)  # departed the first stop
    observe(redis_client, 400.0, 100, 0.0)  # standing at the second stop
    status = stop_status(redis_client, line_run)
    assert status is not None
    assert (status.current_status, status.current_stop_sequence, status.stop_id) == (
        vehicle_stop_status.StopStatusCode.STOPPED_AT,
        4,
        "P1",
    )

    observe(redis_client, 460.0, 160, 9.0)  # left it: 100 s from the first stop, 120 scheduled
    level = congestion_level.from_redis(
        redis_client.hgetall(keys.run_congestion_level(str(line_run.pk)))
    )
    assert level.congestion_level is congestion_level.CongestionLevelCode.RUNNING_SMOOTHLY
    observe(redis_client, 1300.0, 280, 10.0)  # 30 s pings skip the third and fourth stops
    status = stop_status(redis_client, line_run)
    assert (status.current_status, status.current_stop_sequence) == (
        vehicle_stop_status.StopStatusCode.IN_TRANSIT_TO,
        9,
    )

    events = {
        e.stop_sequence: e for e in StopEvent.objects.filter(run=line_run).order_by("stop_sequence")
    }
    assert {seq: e.source for seq, e in events.items()} == {
        2: "observed",
        4: "observed",
        5: "interpolated",
        7: "interpolated",
    }
    assert events[4].arrived_at.timestamp() == START + 100
    assert events[4].departed_at.timestamp() == START + 100  # last seen in the zone
    # Interpolated at their distances between the pings at 460 m (160 s) and 1300 m (280 s).
    assert events[5].arrived_at.timestamp() == pytest.approx(START + 160 + 120 * 340 / 840, abs=1)
    assert events[7].arrived_at.timestamp() == pytest.approx(START + 160 + 120 * 740 / 840, abs=1)
    assert {e.service_date for e in events.values()} == {SERVICE_DATE}
    assert {e.trip_id for e in events.values()} == {"LT"}

    updates = published_updates(redis_client, line_run)
    assert_strictly_increasing(updates)
    by_sequence = {u.stop_sequence: u for u in updates.updates}
    assert [s for s, u in by_sequence.items() if u.observed] == [2, 4, 5, 7]
    assert by_sequence[4].arrival == int(START + 100)  # passed stops keep their observed times
    ahead = [by_sequence[9], by_sequence[10]]
    assert all(not u.observed and u.arrival > START + 280 for u in ahead)
    assert ahead[0].uncertainty_s < ahead[1].uncertainty_s  # grows with the horizon


def test_a_redelivered_batch_changes_nothing(redis_client, line_run):
    observe(redis_client, 0.0, 0, 0.0)
    observe(redis_client, 500.0, 60, 9.0)
    before = (
        redis_client.hgetall(keys.run_progression(str(line_run.pk))),
        redis_client.hgetall(keys.run_stop_time_updates(str(line_run.pk))),
        list(StopEvent.objects.filter(run=line_run).values_list("stop_sequence", "arrived_at")),
    )
    observe(redis_client, 500.0, 60, 9.0)
    after = (
        redis_client.hgetall(keys.run_progression(str(line_run.pk))),
        redis_client.hgetall(keys.run_stop_time_updates(str(line_run.pk))),
        list(StopEvent.objects.filter(run=line_run).values_list("stop_sequence", "arrived_at")),
    )
    assert after == before
    assert [seq for seq, _ in after[2]] == [2, 4]


def test_observed_history_of_a_segment_refines_the_predictions(redis_client, line_run):
    # Three earlier buses took 300 s from P3 (seq 9) to P4 (seq 10) at this hour; the
    # schedule says 120 s.
    earlier = []
    for n in range(3):
        run = Run.objects.create(
            vehicle=line_run.vehicle,
            route_id="L1",
            trip_id="LT",
            start_date=SERVICE_DATE - dt.timedelta(days=n + 1),
        )
        at = START + 360 - 86_400 * (n + 1)
        earlier += [
            RunStopEvent(
                str(run.pk),
                "LT",
                run.start_date,
                StopCall(9, "P4", at, at, EventSource.OBSERVED),
            ),
            RunStopEvent(
                str(run.pk),
                "LT",
                run.start_date,
                StopCall(10, "P5", at + 300, None, EventSource.OBSERVED),
            ),
        ]
    stop_events_write(earlier)
    segment_samples_update(days=28)  # the periodic task
    segment_history.invalidate()

    observe(redis_client, 0.0, 0, 0.0)
    observe(redis_client, 100.0, 40, 8.0)
    by_sequence = {u.stop_sequence: u for u in published_updates(redis_client, line_run).updates}
    assert by_sequence[10].arrival - by_sequence[9].departure == 300
    assert by_sequence[7].arrival - by_sequence[5].departure == 120  # no history: the schedule


def test_a_run_matched_from_what_the_worker_wrote_ends_as_one_read_back_from_redis(
    redis_client, line_run
):
    """The worker keeps what it wrote for a run (``written_runs``) and reads Redis only when
    another writer changed it: both ways give the same published values and events."""
    rid = str(line_run.pk)
    drive = [(0.0, 0, 0.0), (100.0, 40, 8.0), (400.0, 100, 0.0), (405.0, 110, 0.0)]
    drive += [(460.0, 160, 9.0), (1300.0, 280, 10.0), (1500.0, 300, 10.0)]

    def outcome(*, read_back: bool) -> list:
        outcomes = []
        for metres, at_s, speed in drive:
            if read_back:
                written_runs.clear()
            observe(redis_client, metres, at_s, speed)
            state = redis_client.hgetall(keys.run_progression(rid))
            state.pop("revision")
            outcomes.append(
                (
                    state,
                    redis_client.hgetall(keys.run_stop_time_updates(rid)),
                    redis_client.hgetall(keys.run_vehicle_stop_status(rid)),
                    redis_client.hgetall(keys.run_congestion_level(rid)),
                )
            )
        events = StopEvent.objects.filter(run=line_run).order_by("stop_sequence")
        return [outcomes, list(events.values_list("stop_sequence", "arrived_at", "departed_at"))]

    held = outcome(read_back=False)
    assert written_runs.recall(rid) is not None
    redis_client.delete(*progression_keys(rid))
    StopEvent.objects.filter(run=line_run).delete()
    assert outcome(read_back=True) == held


def test_the_claims_the_hot_state_write_read_are_the_ones_matched(redis_client, line_run):
    """The batch carries which run each vehicle is on (read with the hot-state write): the
    observer matches by it and sends no read of its own."""
    run_id = str(line_run.pk)
    latest = position(0.0, 0, 0.0)
    unclaimed = AcceptedBatch({"LV1": latest}, {}, START, 1, claims={})
    observe_progression(unclaimed, redis_client)
    assert not redis_client.exists(keys.run_stop_time_updates(run_id))

    redis_client.delete(keys.vehicle_current_run("LV1"))
    claimed = AcceptedBatch({"LV1": latest}, {}, START, 1, claims={"LV1": run_id})
    observe_progression(claimed, redis_client)
    assert_strictly_increasing(published_updates(redis_client, line_run))
