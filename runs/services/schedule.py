"""The schedule as the run services see it: facts about a trip in the CURRENT feed.

Adapts ``schedule_engine.selectors`` (``scheduled_trip_get``, ``trip_geometry_get``,
``trip_instance_end_get``) to the lifecycle's pure ``ScheduledTripFacts`` and plain
values; nothing else in ``runs`` imports the schedule engine.
"""

from __future__ import annotations

import datetime as dt

from runs.domain.geometry import TripGeometry
from runs.domain.lifecycle.snapshot import ScheduledTripFacts


def scheduled_trip_facts_get(trip_id: str) -> ScheduledTripFacts | None:
    from schedule_engine.selectors import scheduled_trip_get

    trip = scheduled_trip_get(trip_id)
    if trip is None:
        return None
    stops = sorted(trip.stops, key=lambda stop: stop.stop_sequence)
    return ScheduledTripFacts(
        trip_id=trip.trip_id,
        route_id=trip.route_id,
        direction_id=trip.direction_id,
        shape_id=trip.shape_id or "",
        feed_id=str(trip.feed_id),
        stop_ids=tuple(stop.stop_id for stop in stops),
        start_time=trip.start_time or "",
    )


def trip_scheduled_end_get(trip_id: str, service_date: dt.date, start_time: str) -> float | None:
    """POSIX seconds at which the trip instance is scheduled at its last stop (current feed)."""
    from schedule_engine.selectors import trip_instance_end_get

    end = trip_instance_end_get(trip_id, service_date, start_time)
    return None if end is None else end.timestamp()


def trip_geometry_facts_get(trip_id: str) -> TripGeometry | None:
    """The trip's geometry (cached by the schedule engine), or ``None`` without a shape."""
    from schedule_engine.selectors import trip_geometry_get

    try:
        return trip_geometry_get(trip_id)
    except (LookupError, ValueError):
        return None
