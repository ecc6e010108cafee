"""``manage.py demo_history`` on the tiny test network, against the real PostgreSQL.

The network (``schedule_engine.testing.TINY_FEED``, run every day here) has a timetabled
trip, one across midnight, an exact-times frequency trip and a headway-based one. A
written day must look recorded: a completed run per trip instance, each stop's event in
order with times near the schedule, positions along each run inside the day's
partitions, predictions published ahead of each stop, dead letters from the ingest's
decoder; written again, it is replaced, and another day's rows and a live run are left
as they were.
"""

from __future__ import annotations

import datetime as dt
import itertools
from zoneinfo import ZoneInfo

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from databus import keys
from realtime_engine.models import PositionRecord, StopEvent
from realtime_engine.position_partitions.plan import POSITIONS, PartitionedTable, day_partition
from reports.demo_history import letters
from reports.demo_history.writer import DEMO_USERNAME, VEHICLE_PREFIX
from reports.models import PREDICTION_LOG_PARTITIONS, PredictionLog
from runs.domain.lifecycle.states import RunState
from runs.domain.telemetry.rejection import RejectReason
from runs.models import Run, RunLifecycleTransition, Vehicle
from schedule_engine.selectors import service_day_trips
from schedule_engine.testing import TINY_FEED, import_feed, write_feed

TZ = ZoneInfo("America/New_York")
# Two days back: yesterday's after-midnight trip may still be under way.
DAY = dt.datetime.now(TZ).date() - dt.timedelta(days=2)
OTHER_DAY = DAY - dt.timedelta(days=1)
EVERY_DAY = {
    **TINY_FEED,
    "calendar.txt": (
        "service_id,monday,tuesday,wednesday,thursday,friday,saturday,sunday,start_date,end_date\n"
        "WK,1,1,1,1,1,1,1,20260101,20991231\n"
    ),
    "calendar_dates.txt": "service_id,date,exception_type\n",
}


@pytest.fixture
def network(tmp_path, db, redis_client):
    """The every-day tiny feed, current; an emptied Redis (the dead letters go there)."""
    return import_feed(write_feed(tmp_path / "gtfs", EVERY_DAY))


def write_day(day: dt.date, seed: str = "s1", *extra: str) -> None:
    call_command("demo_history", "--date", day.isoformat(), "--seed", seed, *extra)


def demo_runs(day: dt.date):
    return Run.objects.filter(start_date=day, created_by__username=DEMO_USERNAME)


def stop_events(day: dt.date) -> list[tuple]:
    return list(
        StopEvent.objects.filter(run__in=demo_runs(day))
        .order_by("run__trip_id", "run__start_time", "stop_sequence")
        .values_list(
            "run__trip_id", "run__start_time", "stop_sequence", "arrived_at", "departed_at"
        )
    )


def test_a_written_day_has_a_completed_run_per_trip_with_its_stops_in_order(network):
    write_day(DAY)

    instances = {(i.trip_id, i.start_time): i for i in service_day_trips(DAY, feed=network)}
    runs = list(demo_runs(DAY))
    assert {(r.trip_id, r.start_time) for r in runs} == set(instances)
    for run in runs:
        instance = instances[(run.trip_id, run.start_time)]
        assert run.state is RunState.COMPLETED
        assert run.vehicle_id.startswith(VEHICLE_PREFIX)
        assert run.route_id == instance.route_id
        events = list(run.stop_events.order_by("stop_sequence"))
        assert [e.stop_sequence for e in events] == [s.stop_sequence for s in instance.stop_times]
        assert [e.stop_id for e in events] == [s.stop_id for s in instance.stop_times]
        for event, scheduled, following in zip(
            events, instance.stop_times, [*events[1:], None], strict=True
        ):
            # Off schedule by a draw of the delay model, never absurdly (the first stop is
            # reached before its departure: its departure is the one to compare).
            if following is None:
                assert event.departed_at is None  # the terminal
                late = (event.arrived_at - scheduled.arrival).total_seconds()
            else:
                late = (event.departed_at - scheduled.departure).total_seconds()
                assert event.arrived_at <= event.departed_at < following.arrived_at
            assert -600 < late < 1800, (run.trip_id, event.stop_sequence, late)
        assert run.last_event_at == events[-1].arrived_at
        lifecycle = RunLifecycleTransition.objects.filter(run=run).order_by("created_at", "id")
        assert [t.to_state for t in lifecycle][-1] == RunState.COMPLETED.value
    # A vehicle runs one trip at a time.
    for vehicle_id in {r.vehicle_id for r in runs}:
        spans = sorted(
            (r.stop_events.order_by("stop_sequence").first().arrived_at, r.last_event_at)
            for r in runs
            if r.vehicle_id == vehicle_id
        )
        assert all(a[1] < b[0] for a, b in itertools.pairwise(spans))


def test_positions_lie_along_each_run_inside_the_day_partitions(network):
    write_day(DAY)

    for run in demo_runs(DAY):
        first = run.stop_events.order_by("stop_sequence").first().arrived_at
        rows = PositionRecord.objects.filter(
            vehicle_id=run.vehicle_id, timestamp__gte=first, timestamp__lte=run.last_event_at
        )
        minutes = (run.last_event_at - first).total_seconds() / 60
        # Every 30 s, a signal gap of a few minutes apart.
        assert rows.count() >= 2 * minutes - 16, run.trip_id
        assert all(-74.01 < r.longitude < -73.99 and 40.69 < r.latitude < 40.72 for r in rows)
        assert all(r.received_at > r.timestamp for r in rows)
    assert_in_day_partitions(POSITIONS, PositionRecord.objects)


def assert_in_day_partitions(table: PartitionedTable, rows) -> None:
    """The demo vehicles' rows of ``table`` all lie in their UTC day's partition."""
    column = table.column
    with connection.cursor() as cursor:
        cursor.execute(
            f'SELECT tableoid::regclass::text, min("{column}"), max("{column}"), count(*) '
            f"FROM {table.name} WHERE vehicle_id LIKE %s GROUP BY 1",
            [f"{VEHICLE_PREFIX}%"],
        )
        held = cursor.fetchall()
    count = rows.filter(vehicle_id__startswith=VEHICLE_PREFIX).count()
    assert sum(n for *_, n in held) == count > 0
    for name, lowest, highest, _ in held:
        assert lowest.date() == highest.date()
        assert name == day_partition(lowest.date(), table).name  # not the DEFAULT partition


def test_predictions_were_published_ahead_of_each_stop_into_the_days_partitions(network):
    write_day(DAY)

    # Keyed as the accuracy report joins them: the FREQ and HEADWAY instances share a trip
    # id and are told apart by their start time.
    arrivals = {
        (trip_id, start_time, sequence): arrived
        for trip_id, start_time, sequence, arrived in StopEvent.objects.filter(
            run__in=demo_runs(DAY)
        ).values_list("trip_id", "run__start_time", "stop_sequence", "arrived_at")
    }
    predictions = list(PredictionLog.objects.filter(start_date=DAY))
    assert len(predictions) > 50
    for p in predictions:
        assert p.horizon_s > 0
        assert p.horizon_s == (p.predicted_arrival - p.predicted_at).total_seconds()
        observed = arrivals[(p.trip_id, p.start_time, p.stop_sequence)]
        assert observed > p.predicted_at  # published while the stop was still ahead
    assert_in_day_partitions(PREDICTION_LOG_PARTITIONS, PredictionLog.objects)
    horizons = sorted(p.horizon_s for p in predictions)
    assert horizons[-1] <= 1800 and horizons[0] < 120 < horizons[-1]


def test_writing_again_replaces_the_day_and_leaves_other_days_and_live_runs(network):
    live_vehicle = Vehicle.objects.create(id="LIVE-1")
    live = Run.objects.create(
        vehicle=live_vehicle,
        route_id="R1",
        trip_id="T1",
        start_date=DAY,
        start_time="08:00:00",
        run_lifecycle_state=RunState.COMPLETED.value,
    )
    live_position = PositionRecord.objects.create(
        vehicle_id="LIVE-1",
        timestamp=dt.datetime.combine(DAY, dt.time(8, 3), TZ),
        latitude=40.70,
        longitude=-74.0,
        received_at=dt.datetime.combine(DAY, dt.time(8, 3, 1), TZ),
    )
    write_day(OTHER_DAY)
    other = (stop_events(OTHER_DAY), PredictionLog.objects.filter(start_date=OTHER_DAY).count())
    other_positions = demo_positions()

    write_day(DAY, "s1")
    first = stop_events(DAY)
    write_day(DAY, "s1")
    assert stop_events(DAY) == first  # the same seed gives the same day
    written = demo_positions() - other_positions
    write_day(DAY, "s2")
    replaced = stop_events(DAY)

    assert replaced != first
    assert len(replaced) == len(first)
    instances = {(i.trip_id, i.start_time) for i in service_day_trips(DAY, feed=network)}
    # One run per trip instance however often the day is written; T1 was run live.
    assert sorted((r.trip_id, r.start_time) for r in demo_runs(DAY)) == sorted(
        instances - {("T1", "08:00:00")}
    )
    assert not PredictionLog.objects.filter(start_date=DAY, trip_id="T1").exists()
    # The first write's positions are gone (each vehicle samples on its own phase, drawn
    # from the seed), the other day's all kept.
    positions = demo_positions()
    assert other_positions <= positions
    assert not (written & positions)
    assert len(positions - other_positions) > 0
    assert (stop_events(OTHER_DAY), PredictionLog.objects.filter(start_date=OTHER_DAY).count()) == (
        other
    )
    Run.objects.get(pk=live.pk)
    PositionRecord.objects.get(vehicle_id="LIVE-1", timestamp=live_position.timestamp)


def demo_positions() -> set[tuple]:
    return set(
        PositionRecord.objects.filter(vehicle_id__startswith=VEHICLE_PREFIX).values_list(
            "vehicle_id", "timestamp"
        )
    )


def test_a_fleet_cap_leaves_trips_unrun(network):
    write_day(DAY, "s1", "--vehicles", "1")

    assert {r.vehicle_id for r in demo_runs(DAY)} == {f"{VEHICLE_PREFIX}001"}
    assert demo_runs(DAY).count() <= len(service_day_trips(DAY, feed=network))


def test_a_day_older_than_the_position_history_is_refused(network, settings):
    with pytest.raises(CommandError, match="older than"):
        write_day(DAY - dt.timedelta(days=settings.POSITION_RETENTION_DAYS + 2))


@pytest.fixture
def letter_every_run(monkeypatch, redis_client):
    """One dead letter per run (the tiny day has too few runs for the demo's rate), on an
    emptied Redis."""
    monkeypatch.setattr(letters, "RUNS_PER_LETTER", 1)
    return redis_client


def letters_held(client) -> dict[str, dict]:
    return dict(client.xrange(keys.TELEMETRY_DLQ))


def test_dead_letters_are_the_decoders_rejections_at_the_runs_times(network, letter_every_run):
    write_day(DAY)

    held = letters_held(letter_every_run)
    runs = list(demo_runs(DAY))
    assert len(held) == len(runs)
    spans = [
        (r.vehicle_id, r.stop_events.order_by("stop_sequence").first().arrived_at, r.last_event_at)
        for r in runs
    ]
    reasons = {reason.value for reason in RejectReason}
    for entry_id, fields in held.items():
        assert fields["reason"] in reasons
        vehicle_id = fields["topic"].split("/")[-2]
        at = dt.datetime.fromtimestamp(int(entry_id.split("-")[0]) / 1000, dt.UTC)
        assert any(v == vehicle_id and lo <= at <= hi for v, lo, hi in spans), entry_id


def test_dead_letters_are_replaced_and_a_newer_live_letter_stops_them(network, letter_every_run):
    write_day(DAY, "s1")
    first = letters_held(letter_every_run)
    write_day(DAY, "s2")
    second = letters_held(letter_every_run)
    assert len(second) == demo_runs(DAY).count()
    assert not set(first) & set(second)

    live = letter_every_run.xadd(keys.TELEMETRY_DLQ, {"topic": "transit/vehicle/bus-9/position"})
    write_day(DAY, "s3")
    # The day's letters cannot go in behind a newer id: the old ones are gone, none added.
    assert letters_held(letter_every_run).keys() == {live}
