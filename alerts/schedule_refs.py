"""Read what the current GTFS version holds of the ids some informed entities name.

The shell of ``validation``'s reference rules: one query per kind of id named (agencies,
routes, stops, trips) and, per ``trip_start_date`` named, the services running that day
(``schedule_engine.selectors.services_on``). Only the ids named are read, so checking an
alert costs the same on a network of any size.
"""

from __future__ import annotations

from collections.abc import Iterable

from alerts.validation import ScheduleRefs, TripRef
from alerts.values import InformedEntity
from schedule_engine.models import Agency, Feed, Route, Stop, Trip
from schedule_engine.selectors import current_feed_get, services_on


def schedule_refs_read(entities: Iterable[InformedEntity]) -> ScheduleRefs | None:
    """The current version's ids among those ``entities`` name; None: no version is current."""
    feed = current_feed_get()
    if feed is None:
        return None
    entities = list(entities)

    def named(name: str) -> set[str]:
        return {value for entity in entities if (value := getattr(entity, name))}

    routes, trips = named("route_id"), named("trip_id")
    dates = {e.trip_start_date for e in entities if e.trip_id and e.trip_start_date is not None}
    return ScheduleRefs(
        feed_id=feed.pk,
        agencies=_present(Agency, feed, "agency_id", named("agency_id")),
        routes=dict(
            Route.objects.filter(feed=feed, route_id__in=routes).values_list(
                "route_id", "route_type"
            )
        )
        if routes
        else {},
        stops=_present(Stop, feed, "stop_id", named("stop_id")),
        trips={
            trip_id: TripRef(route_id, service_id)
            for trip_id, route_id, service_id in Trip.objects.filter(
                feed=feed, trip_id__in=trips
            ).values_list("trip_id", "route_id", "service_id")
        }
        if trips
        else {},
        services={date: services_on(feed=feed, date=date) for date in dates},
    )


def _present(model, feed: Feed, column: str, values: set[str]) -> frozenset[str]:
    """Which of ``values`` the version holds in ``column`` (no query for none)."""
    if not values:
        return frozenset()
    rows = model.objects.filter(feed=feed, **{f"{column}__in": values})
    return frozenset(rows.values_list(column, flat=True))
