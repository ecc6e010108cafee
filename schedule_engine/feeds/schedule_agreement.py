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

Everything left out is counted by ``(feed, reason)``: the caller turns that into the
``databus_feed_entities_skipped_total`` counter. For a vehicle kept without its trip,
the count is of the trip left out.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
from zoneinfo import ZoneInfo

from schedule_engine.feeds.feed_inputs import FeedInputs
from schedule_engine.feeds.snapshots import TripEntity, TripSnapshot, VehicleEntity
from schedule_engine.feeds.store import FeedName
from schedule_engine.service_days import trip_instance_end


class SkipReason(StrEnum):
    UNKNOWN_TRIP = "unknown_trip"
    UNKNOWN_ROUTE = "unknown_route"
    UNKNOWN_STOP = "unknown_stop"
    CANCELED_TRIP_ENDED = "canceled_trip_ended"


@dataclass(frozen=True, slots=True)
class TripFacts:
    """What the feeds need of one GTFS trip: its route, and its span (GTFS seconds)."""

    route_id: str
    first_departure_s: int | None = None
    last_arrival_s: int | None = None


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
    return FeedInputs(vehicles=vehicles, trips=trips), skipped


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
    updates = tuple(u for u in entity.stop_time_updates if u.stop_id in schedule.stops)
    if len(updates) == len(entity.stop_time_updates):
        return entity
    skipped[FeedName.TRIP_UPDATES, SkipReason.UNKNOWN_STOP] += len(entity.stop_time_updates) - len(
        updates
    )
    return replace(entity, stop_time_updates=updates) if updates else None
