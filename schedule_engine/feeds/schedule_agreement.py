"""The feeds agree with the current schedule: what of the assembled entities may be published. Pure.

Hot state outlives a schedule version: runs created on the previous GTFS version, a
trace replayed for another feed, a cancellation whose day is long past. GTFS-RT
consumers resolve every ``trip_id``, ``route_id`` and ``stop_id`` against the static
feed they hold, so an entity naming one the current version lacks is, at best,
dropped by them and, at worst, shown against the wrong trip. ``feed_inputs_agree``
takes the ``FeedInputs`` that ``feed_inputs.feed_inputs_assemble`` decided and the
current version's ids (``ScheduleIds``, read once per version by ``schedule_ids``),
and decides per entity:

- VehiclePositions: a vehicle whose trip (or its route) is unknown is still published,
  as a vehicle, without its trip, stop status and congestion (its position is true
  whatever the schedule); a stop status naming an unknown stop is left out.
- TripUpdates: a trip update of an unknown trip or route is dropped; a stop time update
  of an unknown stop is dropped, and so is the trip update if none is left (a trip that
  is not CANCELED needs at least one). A CANCELED trip is published only until its
  scheduled end on its own service date plus ``canceled_margin_s``.
- A run of a frequency-based trip with ``exact_times=0`` has no schedule to be late
  against: its trip (in both feeds) and its stop time updates are UNSCHEDULED, as the
  GTFS-RT reference requires of such a trip. ``exact_times=1`` stays SCHEDULED.
- A dispatcher's operation (``FeedInputs.operations``): an added trip (NEW or ADDED)
  names a trip_id the schedule lacks, by definition, but its route and every stop must
  exist, else it is dropped; a cancelled or stop-skipping trip must exist, and takes its
  route and direction from the schedule when the operation does not say them. A stop
  time update naming only a stop_sequence (a skipped stop) is kept.

Everything left out is counted by ``(feed, reason)``: the caller turns that into the
``databus_feed_entities_skipped_total`` counter. For a vehicle kept without its trip,
the count is of the trip left out.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from zoneinfo import ZoneInfo

from msgspec.structs import replace

from schedule_engine.feeds.feed_inputs import FeedInputs
from schedule_engine.feeds.snapshots import (
    StopRelationship,
    StopTimeUpdateSnapshot,
    TripEntity,
    TripRelationship,
    TripSnapshot,
    VehicleEntity,
)
from schedule_engine.feeds.store import FeedName
from schedule_engine.service_days import trip_instance_end


class SkipReason(StrEnum):
    UNKNOWN_TRIP = "unknown_trip"
    UNKNOWN_ROUTE = "unknown_route"
    UNKNOWN_STOP = "unknown_stop"
    CANCELED_TRIP_ENDED = "canceled_trip_ended"


@dataclass(frozen=True, slots=True)
class TripFacts:
    """What the feeds need of one GTFS trip: its route, its span (GTFS seconds), its
    direction, and whether it is frequency-based (``exact_times``: None when it is not,
    else whether every window of it has exact times)."""

    route_id: str
    first_departure_s: int | None = None
    last_arrival_s: int | None = None
    direction_id: int | None = None
    exact_times: bool | None = None


@dataclass(frozen=True, slots=True)
class ScheduleIds:
    """The ids of one GTFS version (``feed_id``), and the agencies' time zone."""

    feed_id: int
    timezone: str
    trips: Mapping[str, TripFacts] = field(default_factory=dict)
    routes: frozenset[str] = frozenset()
    stops: frozenset[str] = frozenset()

    def trip_end_at(self, trip: TripSnapshot) -> float | None:
        """POSIX seconds at which this trip instance is scheduled at its last stop, on its
        start_date; None when the trip has no stop times (or its date cannot be read)."""
        facts = self.trips.get(trip.trip_id)
        if facts is None or facts.first_departure_s is None or facts.last_arrival_s is None:
            return None
        try:
            service_date = dt.datetime.strptime(trip.start_date, "%Y%m%d").date()
        except ValueError:
            return None
        end = trip_instance_end(
            service_date,
            ZoneInfo(self.timezone),
            first_departure_s=facts.first_departure_s,
            last_arrival_s=facts.last_arrival_s,
            start_time=trip.start_time,
        )
        return end.timestamp()


Skipped = Counter[tuple[FeedName, SkipReason]]


def feed_inputs_agree(
    inputs: FeedInputs, schedule: ScheduleIds, *, now: float, canceled_margin_s: float
) -> tuple[FeedInputs, Skipped]:
    """The entities of ``inputs`` that agree with ``schedule``, and what was left out, counted."""
    skipped: Skipped = Counter()
    vehicles = tuple(_vehicle_agreeing(entity, schedule, skipped) for entity in inputs.vehicles)
    trips = tuple(
        agreeing
        for entity in inputs.trips
        if (agreeing := _trip_agreeing(entity, schedule, now, canceled_margin_s, skipped))
    )
    operations = tuple(
        agreeing
        for entity in inputs.operations
        if (agreeing := _operation_agreeing(entity, schedule, now, canceled_margin_s, skipped))
    )
    return (
        FeedInputs(
            vehicles=vehicles,
            trips=trips,
            operations=operations,
            next_trips=inputs.next_trips,
        ),
        skipped,
    )


def _headway_based(trip: TripSnapshot, schedule: ScheduleIds) -> bool:
    facts = schedule.trips.get(trip.trip_id)
    return facts is not None and facts.exact_times is False


def _unscheduled(trip: TripSnapshot) -> TripSnapshot:
    return replace(trip, relationship=TripRelationship.UNSCHEDULED)


def _unscheduled_updates(
    updates: tuple[StopTimeUpdateSnapshot, ...],
) -> tuple[StopTimeUpdateSnapshot, ...]:
    return tuple(
        u
        if u.relationship is StopRelationship.SKIPPED
        else replace(u, relationship=StopRelationship.UNSCHEDULED)
        for u in updates
    )


def _unknown(trip: TripSnapshot, schedule: ScheduleIds) -> SkipReason | None:
    """Why the trip does not name a trip of the schedule, or None if it does."""
    facts = schedule.trips.get(trip.trip_id)
    if facts is None:
        return SkipReason.UNKNOWN_TRIP
    if trip.route_id not in schedule.routes or trip.route_id != facts.route_id:
        return SkipReason.UNKNOWN_ROUTE
    return None


def _vehicle_agreeing(
    entity: VehicleEntity, schedule: ScheduleIds, skipped: Skipped
) -> VehicleEntity:
    if entity.trip is None:
        return entity
    if reason := _unknown(entity.trip, schedule):
        skipped[FeedName.VEHICLE_POSITIONS, reason] += 1
        return replace(entity, run_id=None, trip=None, stop_status=None, congestion=None)
    if _headway_based(entity.trip, schedule) and not entity.trip.cancelled:
        entity = replace(entity, trip=_unscheduled(entity.trip))
    if entity.stop_status is not None and entity.stop_status.stop_id not in schedule.stops:
        skipped[FeedName.VEHICLE_POSITIONS, SkipReason.UNKNOWN_STOP] += 1
        return replace(entity, stop_status=None)
    return entity


def _trip_agreeing(
    entity: TripEntity,
    schedule: ScheduleIds,
    now: float,
    canceled_margin_s: float,
    skipped: Skipped,
) -> TripEntity | None:
    if reason := _unknown(entity.trip, schedule):
        skipped[FeedName.TRIP_UPDATES, reason] += 1
        return None
    if entity.trip.cancelled:
        end = schedule.trip_end_at(entity.trip)
        if end is not None and now > end + canceled_margin_s:
            skipped[FeedName.TRIP_UPDATES, SkipReason.CANCELED_TRIP_ENDED] += 1
            return None
        return entity
    if _headway_based(entity.trip, schedule):
        entity = replace(
            entity,
            trip=_unscheduled(entity.trip),
            stop_time_updates=_unscheduled_updates(entity.stop_time_updates),
        )
    return _known_stops(entity, schedule, skipped)


def _known_stops(entity: TripEntity, schedule: ScheduleIds, skipped: Skipped) -> TripEntity | None:
    """``entity`` without its stop time updates of unknown stops (None if none is left)."""
    updates = tuple(
        u for u in entity.stop_time_updates if not u.stop_id or u.stop_id in schedule.stops
    )
    if len(updates) == len(entity.stop_time_updates):
        return entity
    skipped[FeedName.TRIP_UPDATES, SkipReason.UNKNOWN_STOP] += len(entity.stop_time_updates) - len(
        updates
    )
    return replace(entity, stop_time_updates=updates) if updates else None


_ADDED = (TripRelationship.NEW, TripRelationship.ADDED)


def _operation_agreeing(
    entity: TripEntity,
    schedule: ScheduleIds,
    now: float,
    canceled_margin_s: float,
    skipped: Skipped,
) -> TripEntity | None:
    trip = entity.trip
    if trip.relationship in _ADDED:
        if trip.route_id not in schedule.routes:
            skipped[FeedName.TRIP_UPDATES, SkipReason.UNKNOWN_ROUTE] += 1
            return None
        if any(u.stop_id not in schedule.stops for u in entity.stop_time_updates):
            skipped[FeedName.TRIP_UPDATES, SkipReason.UNKNOWN_STOP] += 1
            return None  # an added trip is all its stops, or it is not the trip announced
        return entity
    facts = schedule.trips.get(trip.trip_id)
    if facts is not None:
        entity = replace(
            entity,
            trip=replace(
                trip,
                route_id=trip.route_id or facts.route_id,
                direction_id=facts.direction_id if trip.direction_id is None else trip.direction_id,
            ),
        )
    return _trip_agreeing(entity, schedule, now, canceled_margin_s, skipped)
