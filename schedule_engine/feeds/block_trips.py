"""The next trip of a run's block in TripUpdates, late by what the layover cannot absorb. Pure.

When the vehicle of a published run will run the next trip of its block (same
``block_id``, same service day: ``schedule_engine.blocks`` finds it), GTFS-RT best
practice asks for that trip's TripUpdate too, with the run's delay at the end of its
trip carried over less the scheduled layover (``predictions.block_propagation``). The
build shell (``tasks``) looks up the next trips and which of them a run already claims;
``next_trip_entities`` decides, for each run's TripUpdate:

- only a SCHEDULED run with a vehicle and predictions (an UNSCHEDULED frequency
  instance has no block: ``blocks`` leaves frequency trips out);
- not when a run already claims the next trip (its own TripUpdate says more), nor when a
  dispatcher cancelled that trip on that date (``operations``);
- end-of-trip delay: the run's last stop time update's arrival (its last stop: the
  predictions run to the end of the trip) minus the trip's scheduled last arrival;
- the entity (id ``<run id>:next``): the next trip SCHEDULED on the same service date,
  the run's vehicle and timestamp, stop times scheduled + max(0, delay - layover), and
  the stops a dispatcher skipped on it SKIPPED.

It is decided with its run (an incremental build re-decides it when the run changes).
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Collection, Iterable, Mapping
from zoneinfo import ZoneInfo

from msgspec.structs import replace

from schedule_engine.feeds.operations import Operations, with_skipped_stops
from schedule_engine.feeds.snapshots import (
    StopTimeUpdateSnapshot,
    TripEntity,
    TripRelationship,
    TripSnapshot,
)
from schedule_engine.predictions.block_propagation import (
    NextBlockTrip,
    end_of_trip_delay_s,
    propagated_stop_times,
)
from schedule_engine.service_days import service_day_origin

NEXT_SUFFIX = ":next"

TripDay = tuple[str, dt.date]


def next_trip_id(run_id: str) -> str:
    """The entity id of the next trip of ``run_id``'s block."""
    return run_id + NEXT_SUFFIX


def owner_run_id(entity_id: str) -> str:
    """The run whose block's next trip ``entity_id`` is (``next_trip_id``'s inverse)."""
    return entity_id.removesuffix(NEXT_SUFFIX)


def service_day(trip: TripSnapshot) -> dt.date | None:
    return _date(trip.start_date)


@functools.lru_cache(maxsize=64)
def _date(start_date: str) -> dt.date | None:
    # Cached: a build asks for every published run, on a handful of distinct dates.
    try:
        return dt.datetime.strptime(start_date, "%Y%m%d").date()
    except ValueError:
        return None


def candidates(trips: Iterable[TripEntity]) -> list[TripDay]:
    """The (trip_id, service date) of the runs whose block's next trip may be published."""
    out = []
    for entity in trips:
        day = service_day(entity.trip)
        if _may_lead(entity) and day is not None:
            out.append((entity.trip.trip_id, day))
    return out


def leading_summary(entity: TripEntity) -> TripEntity | None:
    """All ``candidates`` and ``next_trip_entities`` read of ``entity``: the entity with its
    last timed stop time update alone; None when it cannot lead a next trip. A build split
    across processes sends this back for each run, not its every prediction."""
    if service_day(entity.trip) is None or not _may_lead(entity):
        return None
    return replace(entity, stop_time_updates=(_last_timed(entity),))


def _last_timed(entity: TripEntity) -> StopTimeUpdateSnapshot:
    """The stop time update the run's delay at the end of its trip is read from."""
    return max(
        (u for u in entity.stop_time_updates if u.arrival_time is not None),
        key=lambda u: u.stop_sequence,
    )


def _may_lead(entity: TripEntity) -> bool:
    return (
        entity.trip.relationship is TripRelationship.SCHEDULED
        and entity.vehicle is not None
        and any(u.arrival_time is not None for u in entity.stop_time_updates)
    )


def next_trip_entities(
    trips: Iterable[TripEntity],
    next_trips: Mapping[TripDay, NextBlockTrip],
    *,
    claimed: Collection[str],
    operations: Operations,
    timezone: str,
    now: float,
) -> tuple[TripEntity, ...]:
    """The next-trip entities of ``trips`` (see the module docstring). ``claimed``: the
    next trips some run claims."""
    tz = ZoneInfo(timezone)
    out = []
    for entity in trips:
        day = service_day(entity.trip)
        if day is None or not _may_lead(entity):
            continue
        following = next_trips.get((entity.trip.trip_id, day))
        if following is None or following.trip_id in claimed:
            continue
        if (following.trip_id, entity.trip.start_date) in operations.cancelled:
            continue
        last = _last_timed(entity)
        origin = service_day_origin(following.service_date, tz).timestamp()
        delay = end_of_trip_delay_s(last.arrival_time, following, origin)
        updates = tuple(
            StopTimeUpdateSnapshot(
                p.stop_sequence, p.stop_id, p.arrival, p.departure, p.uncertainty_s
            )
            for p in propagated_stop_times(delay, following, origin, now=now)
        )
        skipped = operations.skipped_stops.get((following.trip_id, entity.trip.start_date))
        if skipped:
            updates = with_skipped_stops(updates, skipped)
        out.append(
            TripEntity(
                run_id=next_trip_id(entity.run_id),
                trip=TripSnapshot(
                    trip_id=following.trip_id,
                    route_id=following.route_id,
                    direction_id=following.direction_id,
                    start_date=entity.trip.start_date,
                    start_time=following.start_time,
                ),
                timestamp=entity.timestamp,
                vehicle=entity.vehicle,
                stop_time_updates=updates,
            )
        )
    return tuple(out)
