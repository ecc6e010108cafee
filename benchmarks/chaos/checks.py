"""The five checks of a `make chaos` row, as pure decisions over values read by thin readers.

- **stored**: every fix the broker acknowledged to the paced publisher is a row of
  position history (``realtime_engine_positionrecord``), matched by (vehicle, timestamp);
- **hot state newest**: each paced vehicle's ``vehicle:{vid}:position`` holds at least
  its newest acknowledged fix (older acknowledgements than ``lag_s`` only: ingest takes
  a batch to write);
- **runs consistent**: each active run's ``run_lifecycle_state`` in ``run:{rid}`` equals
  ``Run.run_lifecycle_state`` in PostgreSQL, and every In Progress run is in
  ``runs:in_progress``; a run whose row changed while it was being compared is not judged;
- **stop events**: with runs In Progress, the map-matcher recorded a stop event (a durable
  arrival, ``realtime_engine_stopevent``) after the fault: matching and its database
  writes are alive, not only the hot state;
- **feeds fresh**: both ``feed:*`` header timestamps within two build intervals of now, and
  every run In Progress since before the TripUpdates header (plus a grace for matching and
  predictions) is a trip of TripUpdates.

Each ``*_check`` reads, then calls the pure function below it, and returns a ``Check``.
Readers take the Redis client; PostgreSQL is read through the Django ORM.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import redis

from benchmarks.chaos.load import Ack, AckLog

ACTIVE_STATES = ("Initialized", "Confirmed", "Tracking", "In Progress", "No Signal")
IN_PROGRESS = "In Progress"
# How many offenders a failing check names.
SHOWN = 3


@dataclass(frozen=True, slots=True)
class Check:
    ok: bool
    detail: str  # what was counted, or the first offenders


@dataclass(frozen=True, slots=True)
class RunRow:
    state: str
    trip_id: str
    last_event_at: float  # epoch s of its last transition (0 when none)


# ----- pure decisions ---------------------------------------------------------------------------


def unstored(acks: Iterable[Ack], stored: set[tuple[str, int]]) -> list[Ack]:
    """The acknowledged fixes that have no history row."""
    return [ack for ack in acks if (ack.vehicle_id, ack.timestamp) not in stored]


def behind_vehicles(
    newest_acked: Mapping[str, int], hot: Mapping[str, int | None]
) -> dict[str, tuple[int, int | None]]:
    """Vehicles whose hot-state fix is older than their newest acknowledged one:
    vehicle → (acknowledged timestamp, hot-state timestamp or None)."""
    return {
        vid: (ts, hot.get(vid))
        for vid, ts in newest_acked.items()
        if hot.get(vid) is None or hot[vid] < ts
    }


def inconsistent_runs(
    before: Mapping[str, RunRow],
    after: Mapping[str, RunRow],
    redis_states: Mapping[str, str | None],
    in_progress: set[str],
) -> dict[str, str]:
    """Runs whose Redis state disagrees with PostgreSQL: run id → what disagrees.

    ``before`` and ``after`` are PostgreSQL read either side of the Redis read; a run
    that changed in between (a transition under way) is left for the next look.
    """
    found = {}
    for run_id, row in after.items():
        if before.get(run_id) != row:
            continue
        stored = redis_states.get(run_id)
        if stored != row.state:
            found[run_id] = f"PG {row.state!r}, Redis {stored!r}"
        elif row.state == IN_PROGRESS and run_id not in in_progress:
            found[run_id] = "In Progress, not in runs:in_progress"
    return found


def stale_feeds(headers: Mapping[str, int | None], now: float, interval_s: float) -> list[str]:
    """Feeds whose header timestamp is missing or older than two build intervals."""
    return [
        f"{name} {'never built' if ts is None else f'{now - ts:.0f} s old'}"
        for name, ts in headers.items()
        if ts is None or now - ts > 2 * interval_s
    ]


def runs_missing_from_trip_updates(
    runs: Mapping[str, RunRow], trip_ids: set[str], header_ts: int | None, grace_s: float
) -> list[str]:
    """In Progress runs since ``grace_s`` before the TripUpdates header that it lacks."""
    if header_ts is None:
        return [run_id for run_id, row in runs.items() if row.state == IN_PROGRESS]
    return [
        run_id
        for run_id, row in runs.items()
        if row.state == IN_PROGRESS
        and row.last_event_at <= header_ts - grace_s
        and row.trip_id not in trip_ids
    ]


def matching_stalled(newest_arrival: float | None, since: float, running: int) -> bool:
    """True when runs are In Progress but no stop was reached since ``since``."""
    return running > 0 and (newest_arrival is None or newest_arrival < since)


# ----- readers ------------------------------------------------------------------------------------


def stored_fixes(prefix: str, since: float) -> set[tuple[str, int]]:
    from realtime_engine.models import PositionRecord

    rows = PositionRecord.objects.filter(
        vehicle_id__startswith=prefix, timestamp__gte=dt.datetime.fromtimestamp(since, dt.UTC)
    ).values_list("vehicle_id", "timestamp")
    return {(vid, int(ts.timestamp())) for vid, ts in rows}


def hot_fix_timestamps(client: redis.Redis, vehicle_ids: Iterable[str]) -> dict[str, int | None]:
    from databus import keys
    from runs.domain.telemetry import position

    ids = list(vehicle_ids)
    pipe = client.pipeline(transaction=False)
    for vid in ids:
        pipe.hget(keys.vehicle_position(vid), position.TIMESTAMP)
    return {vid: int(ts) if ts else None for vid, ts in zip(ids, pipe.execute(), strict=True)}


def active_runs() -> dict[str, RunRow]:
    from runs.models import Run

    rows = Run.objects.filter(run_lifecycle_state__in=ACTIVE_STATES).values_list(
        "id", "run_lifecycle_state", "trip_id", "last_event_at"
    )
    return {
        str(run_id): RunRow(state, trip_id, at.timestamp() if at else 0.0)
        for run_id, state, trip_id, at in rows
    }


def newest_stop_arrival() -> float | None:
    from django.db.models import Max

    from realtime_engine.models import StopEvent

    newest = StopEvent.objects.aggregate(newest=Max("arrived_at"))["newest"]
    return newest.timestamp() if newest else None


def redis_run_states(client: redis.Redis, run_ids: Iterable[str]) -> tuple[dict, set[str]]:
    from databus import keys

    ids = list(run_ids)
    pipe = client.pipeline(transaction=False)
    for run_id in ids:
        pipe.hget(keys.run(run_id), "run_lifecycle_state")
    pipe.smembers(keys.RUNS_IN_PROGRESS)
    *states, in_progress = pipe.execute()
    return dict(zip(ids, states, strict=True)), set(in_progress)


def feed_headers(client: redis.Redis) -> dict[str, int | None]:
    from schedule_engine.feeds.store import HOT_STATE_FEEDS, feed_header_timestamp_get

    return {name.value: feed_header_timestamp_get(client, name) for name in HOT_STATE_FEEDS}


def trip_update_trip_ids(client: redis.Redis) -> set[str]:
    """Trips TripUpdates publishes as running (CANCELED ones left out)."""
    from google.transit import gtfs_realtime_pb2

    from schedule_engine.feeds.store import FeedName, feed_get

    stored = feed_get(client, FeedName.TRIP_UPDATES)
    if stored is None:
        return set()
    message = gtfs_realtime_pb2.FeedMessage()
    message.ParseFromString(stored.payload)
    canceled = gtfs_realtime_pb2.TripDescriptor.CANCELED
    return {
        e.trip_update.trip.trip_id
        for e in message.entity
        if e.trip_update.trip.schedule_relationship != canceled
    }


# ----- the checks ------------------------------------------------------------------------------


def stored_check(log: AckLog, since: float, acked_before: float) -> Check:
    acks = log.between(since, float("inf"), acked_before)
    missing = unstored(acks, stored_fixes(log.prefix, since))
    shown = ", ".join(f"{a.vehicle_id}@{a.timestamp}" for a in missing[:SHOWN])
    detail = f"{len(acks) - len(missing)}/{len(acks)}"
    return Check(not missing, detail + (f" ({shown})" * bool(missing)))


def hot_state_check(client: redis.Redis, log: AckLog, acked_before: float) -> Check:
    newest = log.newest_by_vehicle(acked_before)
    behind = behind_vehicles(newest, hot_fix_timestamps(client, newest))
    shown = ", ".join(f"{vid} {hot} < {ts}" for vid, (ts, hot) in list(behind.items())[:SHOWN])
    detail = f"{len(newest) - len(behind)}/{len(newest)}"
    return Check(not behind, detail + (f" ({shown})" * bool(behind)))


def runs_check(client: redis.Redis) -> tuple[Check, dict[str, RunRow]]:
    before = active_runs()
    states, in_progress = redis_run_states(client, before)
    after = active_runs()
    bad = inconsistent_runs(before, after, states, in_progress)
    shown = "; ".join(f"{rid[:8]} {why}" for rid, why in list(bad.items())[:SHOWN])
    running = sum(row.state == IN_PROGRESS for row in after.values())
    detail = f"{len(after) - len(bad)}/{len(after)} ({running} in progress)"
    return Check(not bad, detail + (f" {shown}" * bool(bad))), after


def stop_events_check(runs: Mapping[str, RunRow], since: float, now: float) -> Check:
    newest = newest_stop_arrival()
    running = sum(row.state == IN_PROGRESS for row in runs.values())
    stalled = matching_stalled(newest, since, running)
    age = "none yet" if newest is None else f"newest {now - newest:.0f} s ago"
    return Check(not stalled, age + (f" (none since the fault {now - since:.0f} s ago)" * stalled))


def feeds_check(
    client: redis.Redis, runs: Mapping[str, RunRow], now: float, interval_s: float, grace_s: float
) -> Check:
    headers = feed_headers(client)
    stale = stale_feeds(headers, now, interval_s)
    missing = runs_missing_from_trip_updates(
        runs, trip_update_trip_ids(client), headers.get("trip_updates"), grace_s
    )
    problems = stale + [f"run {rid[:8]} not in TripUpdates" for rid in missing[:SHOWN]]
    ages = [f"{now - ts:.0f}" for ts in headers.values() if ts is not None]
    detail = "age " + "/".join(ages) + " s" if ages else "no feeds"
    return Check(not stale and not missing, detail + (f" ({'; '.join(problems)})" * bool(problems)))
