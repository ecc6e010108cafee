"""Write a planned service day into the database: the shell of ``day`` and ``samples``.

``demo_history_write`` reads the current GTFS version's trips of the day, plans the day
(``day.day_plan``), and writes, in one transaction: the runs (``runs.Run``, Completed,
each with its accepted lifecycle transitions), their stop events
(``realtime_engine.models.StopEvent``), the position history
(``realtime_engine.models.PositionRecord``) and what the TripUpdates feed would have
published (``reports.models.PredictionLog``). Bulk writes: COPY for the stop events,
positions, predictions and transitions, ``bulk_create`` for the runs.

The demo's rows are told apart by who made them: runs created by the ``demo-history``
user, on the vehicles ``HIST-001``… of the company "Demo history" (vehicles that never
publish live). Writing a day again first deletes that day's demo rows (runs with their
stop events, transitions and segment samples; each demo vehicle's positions from the
start of its first run of the day to the end of its last; the demo vehicles' predictions
of that service date; their dead letters within the runs), so the write replaces them;
nothing recorded live is touched, nor another day's rows as long as one day's runs end
before the next day's begin (a network with a break in the night, as the demo's).
A trip instance a live run already ran that day is left to it.

The UTC day partitions the positions and predictions fall in are created first
(``realtime_engine.position_partitions``, for both tables), each in a short DDL
transaction of its own, as the maintenance does; a day either table would already have
dropped is refused. Stop events carry the current wall clock in microseconds as
their revision, as live upserts do, so the segment samples' next update derives the
demo day's travel times into the prediction history.
"""

from __future__ import annotations

import datetime as dt
import random
import time
import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import connection, transaction

from databus import keys
from databus.redis import get_redis
from realtime_engine.ingest.decode import Rejection, decode_message
from realtime_engine.ingest.dlq import entry_fields
from realtime_engine.ingest.topics import parse_topic, vehicle_topic
from realtime_engine.models import PositionRecord, StopEvent
from realtime_engine.position_partitions.maintenance import (
    LOCK_TIMEOUT,
    create_day,
    existing_partitions,
)
from realtime_engine.position_partitions.plan import (
    POSITIONS,
    PartitionedTable,
    day_partition,
    retention_cutoff,
)
from realtime_engine.simulation.faults import Injection, invalid_payload
from reports.demo_history.day import PlannedRun, TripToRun, day_plan
from reports.demo_history.letters import dead_letters
from reports.demo_history.samples import parked, positions, predictions
from reports.models import PREDICTION_LOG_PARTITIONS, PredictionLog
from runs.domain.lifecycle.events import RunEvent
from runs.domain.lifecycle.roles import ActorRole
from runs.domain.lifecycle.states import RunState
from runs.domain.lifecycle.table import TRANSITIONS
from runs.models import Run, RunLifecycleTransition, Vehicle
from runs.services.fleet import company_register, dispatcher_register, vehicle_register
from schedule_engine.models import Trip
from schedule_engine.scheduled import ScheduledTripInstance
from schedule_engine.selectors import (
    current_feed_get,
    scheduled_trips_get,
    service_day_trips,
    trip_geometry_get,
)

DEMO_USERNAME = "demo-history"
DEMO_COMPANY = "Demo history"
VEHICLE_PREFIX = "HIST-"
POSITION_EVERY_S = 30.0
_ADVISORY_KEY = "reports.demo_history"
# The day-partitioned tables written: each needs the day's partitions and keeps it.
_TABLES = (POSITIONS, PREDICTION_LOG_PARTITIONS)
# The lifecycle a recorded run went through: (event, who, seconds after taking the trip,
# or None for "at departure" / "at the terminal").
_SIGN_ON_S = -90.0
_LIFECYCLE = (
    (RunEvent.VALIDATE_RUN, ActorRole.DISPATCHER),
    (RunEvent.INITIALIZE_RUN, ActorRole.DISPATCHER),
    (RunEvent.RUN_CONFIRMED_BY_OPERATOR, ActorRole.DISPATCHER),
    (RunEvent.RUN_TRACKING_STARTED, ActorRole.SYSTEM),
    (RunEvent.RUN_STARTED, ActorRole.SYSTEM),
    (RunEvent.RUN_COMPLETED, ActorRole.SYSTEM),
)
_TARGETS = {(t.source, t.event): t.target for t in TRANSITIONS}


class HistoryError(RuntimeError):
    """The day cannot be written (no current feed, a date outside the history's retention)."""


@dataclass(frozen=True)
class HistoryReport:
    service_date: dt.date
    runs: int
    vehicles: int
    stop_events: int
    positions: int
    predictions: int
    dead_letters: int  # 0 when the stream holds a newer live letter (ids only grow)
    replaced_runs: int
    missed_trips: int  # trips of the day no vehicle was free for (or still under way)


def demo_history_write(
    *,
    service_date: dt.date,
    seed: str = "databus",
    vehicles: int | None = None,
    now: dt.datetime | None = None,
) -> HistoryReport:
    """Write (or rewrite) the demo history of ``service_date`` for the current feed: every
    trip instance whose run would have ended by ``now``."""
    now = now or dt.datetime.now(dt.UTC)
    feed = current_feed_get()
    if feed is None:
        raise HistoryError("no current GTFS feed: run import_gtfs --activate first")
    for table in _TABLES:
        days = getattr(settings, table.retention_days_setting)
        if service_date < retention_cutoff(now, days).date():
            raise HistoryError(
                f"{service_date} is older than {table.name} keeps "
                f"({table.retention_days_setting}={days})"
            )
    user = dispatcher_register(username=DEMO_USERNAME, first_name="Demo", last_name="History")
    live = set(
        Run.objects.filter(start_date=service_date)
        .exclude(created_by=user)
        .values_list("trip_id", "start_time")
    )
    instances = [
        i
        for i in service_day_trips(service_date, feed=feed)
        if i.shape_id and (i.trip_id, i.start_time) not in live
    ]
    trips = trips_to_run(instances, ZoneInfo(feed.timezone))
    plan = day_plan(trips, seed=seed, until=now.timestamp(), vehicles=vehicles)
    numbers = sorted({run.vehicle_number for run in plan})
    for table in _TABLES:
        _partitions_ensure(table, _days_of(plan))
    company = company_register(name=DEMO_COMPANY)
    fleet = {
        n: vehicle_register(
            vehicle_id=f"{VEHICLE_PREFIX}{n:03d}",
            company=company,
            label=f"History {n}",
            license_plate=f"HIS {n:03d}",
            wheelchair_accessible=n % 4 != 0,
        )
        for n in numbers
    }
    with transaction.atomic():
        with connection.cursor() as cursor:  # one writer at a time: two would both delete
            cursor.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [_ADVISORY_KEY])
        old_spans = _spans(service_date, user_id=user.pk)
        replaced = _delete_day(service_date, user_id=user.pk)
        run_ids = _runs_create(plan, fleet, feed_version=str(feed.pk), user_id=user.pk, seed=seed)
        counts = _samples_copy(plan, run_ids, fleet, seed=seed)
    letters = _letters_write(plan, fleet, old_spans=old_spans, seed=seed)
    return HistoryReport(
        service_date=service_date,
        runs=len(plan),
        vehicles=len(numbers),
        dead_letters=letters,
        replaced_runs=replaced,
        missed_trips=len(trips) - len(plan),
        **counts,
    )


def trips_to_run(instances: Sequence[ScheduledTripInstance], tz: ZoneInfo) -> list[TripToRun]:
    """The day's trip instances with what the planner needs: geometry, schedule in POSIX
    seconds per geometry stop, timepoints, block, headway. An instance whose trip has no
    usable geometry or stop times is left out."""
    trip_ids = sorted({i.trip_id for i in instances})
    scheduled = scheduled_trips_get(trip_ids)
    blocks = dict(
        Trip.objects.filter(feed__is_current=True, trip_id__in=trip_ids).values_list(
            "trip_id", "block_id"
        )
    )
    headways = _headways(instances)
    out = []
    for instance in instances:
        geometry = trip_geometry_get(instance.trip_id)
        trip = scheduled.get(instance.trip_id)
        if geometry is None or trip is None:
            continue
        times = {s.stop_sequence: s for s in instance.stop_times}
        timepoints = {s.stop_sequence: s.timepoint for s in trip.stops}
        if any(sequence not in times for sequence in geometry.stop_sequences):
            continue
        stops = [times[sequence] for sequence in geometry.stop_sequences]
        out.append(
            TripToRun(
                trip_id=instance.trip_id,
                route_id=instance.route_id,
                direction_id=instance.direction_id,
                shape_id=instance.shape_id or "",
                service_date=instance.service_date,
                start_time=instance.start_time,
                block_id="" if instance.frequency_based else blocks.get(instance.trip_id, ""),
                local_hour=instance.first_departure.astimezone(tz).hour,
                headway_s=headways.get((instance.trip_id, instance.start_time)),
                headway_based=instance.frequency_based and not instance.exact_times,
                geometry=geometry,
                scheduled=tuple((s.arrival.timestamp(), s.departure.timestamp()) for s in stops),
                timepoints=tuple(timepoints.get(seq, True) for seq in geometry.stop_sequences),
            )
        )
    return out


def _headways(instances: Iterable[ScheduledTripInstance]) -> dict[tuple[str, str], float]:
    """A frequency-based instance's scheduled headway: the time to the next instance of
    its trip (the last one's: to the one before)."""
    starts: dict[str, list[tuple[float, str]]] = defaultdict(list)
    for i in instances:
        if i.frequency_based:
            starts[i.trip_id].append((i.first_departure.timestamp(), i.start_time))
    out = {}
    for trip_id, rows in starts.items():
        rows.sort()
        for k, (start, start_time) in enumerate(rows):
            if len(rows) > 1:
                other = rows[k + 1][0] if k + 1 < len(rows) else rows[k - 1][0]
                out[(trip_id, start_time)] = abs(other - start)
    return out


def _days_of(plan: Sequence[PlannedRun]) -> set[dt.date]:
    """The UTC days the runs' positions and predictions fall on."""
    days = set()
    for run in plan:
        first = dt.datetime.fromtimestamp(run.taken_at, dt.UTC).date()
        last = dt.datetime.fromtimestamp(run.ended_at, dt.UTC).date()
        days |= {first, last}
    return days


def _partitions_ensure(table: PartitionedTable, days: Iterable[dt.date]) -> None:
    """Create ``table``'s day partitions of ``days`` that no partition covers, moving their
    rows out of the DEFAULT partition, each in its own DDL transaction (a past day the
    hourly maintenance, which creates days ahead, would not create)."""
    with connection.cursor() as cursor:
        existing = existing_partitions(cursor, table)
    for day in sorted(days):
        partition = day_partition(day, table)
        if any(p.overlaps(partition.lower, partition.upper) for p in existing):
            continue
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'")
            create_day(cursor, partition, move_from_default=True, table=table)


# Each demo run of a day: its vehicle, from reaching the first stop to the terminal.
_SPANS = f"""
    SELECT r.vehicle_id, min(e.arrived_at) AS lower, max(COALESCE(e.departed_at, e.arrived_at))
           AS upper
    FROM {Run._meta.db_table} r JOIN {StopEvent._meta.db_table} e ON e.run_id = r.id
    WHERE r.start_date = %s AND r.created_by_id = %s
    GROUP BY r.id, r.vehicle_id
"""
# A demo vehicle's positions of a day lie from its first run's start to its last run's end
# (parked between runs included).
_DELETE_POSITIONS = f"""
DELETE FROM {PositionRecord._meta.db_table} p
USING (
    SELECT vehicle_id, min(lower) AS lower, max(upper) AS upper FROM ({_SPANS}) runs
    GROUP BY vehicle_id
) spans
WHERE p.vehicle_id = spans.vehicle_id
  AND p."timestamp" BETWEEN spans.lower - interval '1 second' AND spans.upper + interval '1 second'
"""


def _spans(service_date: dt.date, *, user_id: int) -> list[tuple[str, dt.datetime, dt.datetime]]:
    with connection.cursor() as cursor:
        cursor.execute(_SPANS, [service_date, user_id])
        return cursor.fetchall()


def _delete_day(service_date: dt.date, *, user_id: int) -> int:
    """Delete the demo rows of ``service_date``; how many runs there were."""
    with connection.cursor() as cursor:
        cursor.execute(_DELETE_POSITIONS, [service_date, user_id])
    PredictionLog.objects.filter(
        start_date=service_date, vehicle_id__startswith=VEHICLE_PREFIX
    ).delete()
    runs = Run.objects.filter(start_date=service_date, created_by_id=user_id)
    count = runs.count()
    runs.delete()  # with their stop events, transitions and segment samples
    return count


def _at(seconds: float) -> dt.datetime:
    # Milliseconds, as vehicles' clocks report them.
    return dt.datetime.fromtimestamp(round(seconds, 3), dt.UTC)


def _runs_create(
    plan: Sequence[PlannedRun],
    fleet: dict[int, Vehicle],
    *,
    feed_version: str,
    user_id: int,
    seed: str,
) -> list[uuid.UUID]:
    runs, transitions = [], []
    for planned in plan:
        trip = planned.trip
        # A function of the seed and the trip instance, as the rest of the day is.
        rng = random.Random(f"{seed}|run|{trip.trip_id}|{trip.service_date}|{trip.start_time}")
        run_id = uuid.UUID(int=rng.getrandbits(128), version=4)
        departure = planned.taken_at + planned.motion.departure_s
        runs.append(
            Run(
                id=run_id,
                vehicle=fleet[planned.vehicle_number],
                route_id=trip.route_id,
                trip_id=trip.trip_id,
                shape_id=trip.shape_id,
                direction_id=trip.direction_id,
                start_date=trip.service_date,
                start_time=trip.start_time,
                run_lifecycle_state=RunState.COMPLETED.value,
                last_event=RunEvent.RUN_COMPLETED.value,
                last_event_at=_at(planned.ended_at),
                feed_version=feed_version,
                created_by_id=user_id,
            )
        )
        state = RunState.REQUESTED
        moments = {
            RunEvent.RUN_TRACKING_STARTED: planned.taken_at,
            RunEvent.RUN_STARTED: departure,
            RunEvent.RUN_COMPLETED: planned.ended_at,
        }
        for k, (event, role) in enumerate(_LIFECYCLE):
            target = _TARGETS[(state, event)]
            human = role is ActorRole.DISPATCHER
            transitions.append(
                (
                    run_id,
                    event.value,
                    state.value,
                    target.value,
                    True,
                    "",
                    "[]",
                    "[]",
                    user_id if human else None,
                    role.value,
                    "{}",
                    _at(moments.get(event, planned.taken_at + _SIGN_ON_S + k)),
                )
            )
            state = target
    Run.objects.bulk_create(runs, batch_size=2000)
    _copy(
        RunLifecycleTransition._meta.db_table,
        "run_id event from_state to_state accepted refusal guard_results actions actor_id "
        "actor_role payload created_at",
        transitions,
    )
    return [run.id for run in runs]


def _samples_copy(
    plan: Sequence[PlannedRun],
    run_ids: Sequence[uuid.UUID],
    fleet: dict[int, Vehicle],
    *,
    seed: str,
) -> dict[str, int]:
    revision = time.time_ns() // 1000
    stop_rows, position_rows, prediction_rows = [], [], []
    last_run: dict[int, PlannedRun] = {}
    for planned, run_id in zip(plan, run_ids, strict=True):
        trip = planned.trip
        vehicle_id = fleet[planned.vehicle_number].pk
        stops = planned.motion.stops
        times = planned.stop_times()
        last = len(stops) - 1
        for index, (stop, (arrived, departed)) in enumerate(zip(stops, times, strict=True)):
            stop_rows.append(
                (
                    run_id,
                    trip.trip_id,
                    trip.service_date,
                    stop.stop_sequence,
                    stop.stop_id,
                    _at(arrived),
                    None if index == last else _at(departed),
                    StopEvent.Source.INTERPOLATED.value
                    if index in planned.interpolated
                    else StopEvent.Source.OBSERVED.value,
                    revision,
                )
            )
        rng = random.Random(f"{seed}|samples|{trip.trip_id}|{trip.service_date}|{trip.start_time}")
        pings = positions(planned, every_s=POSITION_EVERY_S, rng=rng)
        previous = last_run.get(planned.vehicle_number)
        if previous is not None:
            pings = parked(previous, planned, every_s=POSITION_EVERY_S, rng=rng) + pings
        last_run[planned.vehicle_number] = planned
        for p in pings:
            position_rows.append(
                (
                    vehicle_id,
                    _at(p.timestamp),
                    p.latitude,
                    p.longitude,
                    p.bearing,
                    p.speed,
                    p.odometer,
                    _at(p.received_at),
                )
            )
        # As the prediction log samples the feed (reports.prediction_log).
        for p in predictions(
            planned,
            every_s=settings.PREDICTION_LOG_INTERVAL_S,
            max_horizon_s=settings.PREDICTION_LOG_MAX_HORIZON_S,
            rng=rng,
        ):
            stop = stops[p.stop_index]
            prediction_rows.append(
                (
                    _at(p.predicted_at),
                    trip.trip_id,
                    trip.route_id,
                    trip.direction_id,
                    trip.service_date,
                    trip.start_time,
                    stop.stop_id,
                    stop.stop_sequence,
                    vehicle_id,
                    _at(p.predicted_arrival),
                    p.horizon_s,
                )
            )
    _copy(
        StopEvent._meta.db_table,
        "run_id trip_id service_date stop_sequence stop_id arrived_at departed_at source revision",
        stop_rows,
    )
    _copy(
        PositionRecord._meta.db_table,
        "vehicle_id timestamp latitude longitude bearing speed odometer received_at",
        position_rows,
    )
    _copy(
        PredictionLog._meta.db_table,
        "predicted_at trip_id route_id direction_id start_date start_time stop_id stop_sequence "
        "vehicle_id predicted_arrival horizon_s",
        prediction_rows,
    )
    return {
        "stop_events": len(stop_rows),
        "positions": len(position_rows),
        "predictions": len(prediction_rows),
    }


def _copy(table: str, columns: str, rows: Iterable[tuple]) -> None:
    """COPY ``rows`` into ``table``; ``columns`` names them, space-separated."""
    names = ", ".join(f'"{c}"' for c in columns.split())
    with (
        connection.cursor() as cursor,
        cursor.cursor.copy(f"COPY {table} ({names}) FROM STDIN") as copy,
    ):
        for row in rows:
            copy.write_row(row)


def _letters_write(
    plan: Sequence[PlannedRun],
    fleet: dict[int, Vehicle],
    *,
    old_spans: Sequence[tuple[str, dt.datetime, dt.datetime]],
    seed: str,
) -> int:
    """Replace the day's demo letters in the dead-letter stream; how many were written.

    Entry ids are the stream's millisecond clock (the data-quality report reads a letter's
    time from its id), so these are the letters' times of the day. A stream's ids only
    grow: the letters an earlier write left within its runs' spans are deleted and the
    stream's last id set back to its newest entry left; when that entry is newer than
    the first letter (a live letter of today), none are written."""
    client = get_redis()
    root = settings.MQTT_TOPIC_ROOT
    if old_spans:
        low = min(lower for _, lower, _ in old_spans)
        high = max(upper for _, _, upper in old_spans)
        spans = defaultdict(list)
        for vehicle_id, lower, upper in old_spans:
            spans[vehicle_id].append((lower.timestamp(), upper.timestamp()))
        stale = []
        for entry_id, fields in client.xrange(
            keys.TELEMETRY_DLQ,
            min=str(int(low.timestamp() * 1000)),
            max=str(int(high.timestamp() * 1000) + 1),
        ):
            try:
                vehicle_id, _ = parse_topic(fields.get("topic", ""), root)
            except ValueError:
                continue
            at = int(entry_id.split("-")[0]) / 1000
            if any(lower <= at <= upper + 1 for lower, upper in spans.get(vehicle_id, ())):
                stale.append(entry_id)
        if stale:
            client.xdel(keys.TELEMETRY_DLQ, *stale)
    entries = []
    for letter in dead_letters(plan, seed=seed):
        vehicle_id = fleet[letter.vehicle_number].pk
        payload = invalid_payload(
            letter.payload,
            latitude=letter.latitude,
            longitude=letter.longitude,
            timestamp=int(letter.at),
        )
        leaf = Injection(0, vehicle_id, letter.payload).leaf
        rejection = decode_message(vehicle_topic(root, vehicle_id, leaf), payload, letter.at, root)
        if isinstance(rejection, Rejection):
            entries.append((int(letter.at * 1000), entry_fields(rejection)))
    if not entries:
        return 0
    newest = client.xrevrange(keys.TELEMETRY_DLQ, count=1)
    top = newest[0][0] if newest else "0-0"
    if int(top.split("-")[0]) >= entries[0][0]:
        return 0
    if client.exists(keys.TELEMETRY_DLQ):  # back from the deleted letters' ids
        client.execute_command("XSETID", keys.TELEMETRY_DLQ, top)
    pipe = client.pipeline(transaction=False)
    last = (0, -1)
    for ms, fields in entries:
        last = (ms, last[1] + 1) if ms == last[0] else (ms, 0)
        pipe.xadd(keys.TELEMETRY_DLQ, fields, id=f"{last[0]}-{last[1]}")
    pipe.execute()
    return len(entries)
