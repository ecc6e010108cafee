"""Reads of the schedule, for the current feed unless a feed is given.

The interface other parts use: `current_feed_get`, `scheduled_trip_get` (and
`scheduled_trips_get` for many at once),
`trip_geometry_get` (in-process cache, no query per call), `trip_instance_end_get`
and `service_day_trips`. Reads only; the import and activation are in `services`.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable
from zoneinfo import ZoneInfo

from django.db.models import QuerySet

from runs.domain.geometry import TripGeometry
from schedule_engine import geometry_cache
from schedule_engine.gtfs_import.fields import format_time
from schedule_engine.gtfs_import.tables import WEEKDAY_COLUMNS
from schedule_engine.models import (
    Calendar,
    CalendarDate,
    Feed,
    Frequency,
    Route,
    ShapePoint,
    Stop,
    StopTime,
    Trip,
)
from schedule_engine.scheduled import ScheduledTrip, ScheduledTripInstance, TripStopTime
from schedule_engine.service_days import (
    CalendarRule,
    FrequencyWindow,
    active_service_ids,
    trip_instance_end,
    trip_instances,
)


def current_feed_get() -> Feed | None:
    return Feed.objects.filter(is_current=True).first()


def feed_list() -> QuerySet[Feed]:
    return Feed.objects.order_by("-imported_at", "-pk")


def route_list(*, feed: Feed) -> QuerySet[Route]:
    return Route.objects.filter(feed=feed).order_by("route_id")


def stop_list(*, feed: Feed) -> QuerySet[Stop]:
    return Stop.objects.filter(feed=feed).order_by("stop_id")


def _scheduled_trip(trip: Trip, stop_rows) -> ScheduledTrip:
    stops = tuple(TripStopTime(*row) for row in stop_rows)
    return ScheduledTrip(
        trip_id=trip.trip_id,
        route_id=trip.route_id,
        direction_id=trip.direction_id,
        shape_id=trip.shape_id or None,
        service_id=trip.service_id,
        start_time=format_time(trip.first_departure_s)
        if trip.first_departure_s is not None
        else "",
        feed_id=trip.feed_id,
        stops=stops,
    )


STOP_COLUMNS = ("stop_sequence", "stop_id", "arrival_s", "departure_s", "timepoint", "distance_m")


def scheduled_trip_get(trip_id: str, *, feed: Feed | None = None) -> ScheduledTrip | None:
    """A trip of the current feed (or of ``feed``) with its stops in order, or None."""
    return scheduled_trips_get([trip_id], feed=feed).get(trip_id)


def scheduled_trips_get(
    trip_ids: Iterable[str], *, feed: Feed | None = None
) -> dict[str, ScheduledTrip]:
    """The trips of the current feed (or of ``feed``) among ``trip_ids``, with their stops in
    order; an unknown trip is left out. Two queries however many trips are asked for."""
    trip_ids = list(dict.fromkeys(trip_ids))
    if not trip_ids:
        return {}
    feed_filter = {"feed": feed} if feed is not None else {"feed__is_current": True}
    trips = {
        trip.trip_id: trip for trip in Trip.objects.filter(trip_id__in=trip_ids, **feed_filter)
    }
    if not trips:
        return {}
    rows: dict[str, list[tuple]] = defaultdict(list)
    feed_ids = {trip.feed_id for trip in trips.values()}
    for trip_id, *row in (
        StopTime.objects.filter(feed_id__in=feed_ids, trip_id__in=list(trips))
        .order_by("trip_id", "stop_sequence")
        .values_list("trip_id", *STOP_COLUMNS)
    ):
        rows[trip_id].append(row)
    return {trip_id: _scheduled_trip(trip, rows[trip_id]) for trip_id, trip in trips.items()}


def trip_instance_end_get(
    trip_id: str, service_date: dt.date, start_time: str = "", *, feed: Feed | None = None
) -> dt.datetime | None:
    """When the trip (of the current feed, or ``feed``) starting at ``start_time`` on
    ``service_date`` is scheduled at its last stop; None without the trip or its stop times."""
    feed_filter = {"feed": feed} if feed is not None else {"feed__is_current": True}
    span = (
        Trip.objects.filter(trip_id=trip_id, **feed_filter)
        .values_list("first_departure_s", "last_arrival_s", "feed__timezone")
        .first()
    )
    if span is None or None in span:
        return None
    first_departure_s, last_arrival_s, timezone = span
    return trip_instance_end(
        service_date,
        ZoneInfo(timezone),
        first_departure_s=first_departure_s,
        last_arrival_s=last_arrival_s,
        start_time=start_time,
    )


def trip_geometry_get(trip_id: str) -> TripGeometry | None:
    """The trip's shape and stop distances, from the per-process cache of the current feed."""
    return geometry_cache.trip_geometry(trip_id)


def shape_points_get(*, feed_id: int, shape_id: str) -> list[tuple[float, float]]:
    """(lat, lon) of a shape's points in order."""
    return list(
        ShapePoint.objects.filter(feed_id=feed_id, shape_id=shape_id)
        .order_by("sequence")
        .values_list("lat", "lon")
    )


def services_on(*, feed: Feed, date: dt.date) -> frozenset[str]:
    rules = [
        CalendarRule(row[0], tuple(row[1:8]), row[8], row[9])
        for row in Calendar.objects.filter(feed=feed).values_list(
            "service_id", *WEEKDAY_COLUMNS, "start_date", "end_date"
        )
    ]
    exceptions = CalendarDate.objects.filter(feed=feed, date=date).values_list(
        "service_id", "exception_type"
    )
    return active_service_ids(date, rules, exceptions)


def service_day_trips(
    service_date: dt.date, *, feed: Feed | None = None, with_stop_times: bool = True
) -> list[ScheduledTripInstance]:
    """Trips running on ``service_date`` (agency time zone), ordered by first departure.

    Absolute times are aware datetimes in the agency's time zone; a
    frequency-based trip gives one instance per scheduled start. Without stop
    times, each instance's `stop_times` is empty (cheaper for listings).
    """
    feed = feed or current_feed_get()
    if feed is None:
        return []
    tz = ZoneInfo(feed.timezone)
    services = services_on(feed=feed, date=service_date)
    trips = list(
        Trip.objects.filter(feed=feed, service_id__in=services, first_departure_s__isnull=False)
    )
    frequencies: dict[str, list[FrequencyWindow]] = defaultdict(list)
    for trip_id, *window in Frequency.objects.filter(
        feed=feed, trip_id__in=[t.trip_id for t in trips]
    ).values_list("trip_id", "start_s", "end_s", "headway_s", "exact_times"):
        frequencies[trip_id].append(FrequencyWindow(*window))
    stops: dict[str, list[tuple]] = defaultdict(list)
    if with_stop_times:
        rows = (
            StopTime.objects.filter(feed=feed, trip_id__in=[t.trip_id for t in trips])
            .order_by("trip_id", "stop_sequence")
            .values_list("trip_id", *STOP_COLUMNS)
        )
        for trip_id, *row in rows.iterator(chunk_size=20_000):
            stops[trip_id].append(row)
    instances: list[ScheduledTripInstance] = []
    for trip in trips:
        instances += trip_instances(
            trip=_scheduled_trip(trip, stops.get(trip.trip_id, ())),
            first_departure_s=trip.first_departure_s,
            last_arrival_s=trip.last_arrival_s,
            service_date=service_date,
            tz=tz,
            frequencies=frequencies.get(trip.trip_id, ()),
        )
    instances.sort(key=lambda i: (i.first_departure, i.trip_id))
    return instances
