"""The current feed's network as the live map draws it: routes with their shapes, and stops.

Reads the schedule through ``schedule_engine.selectors`` (and the trips' distinct
shapes); returns plain JSON-ready values. Read by ``realtime_engine.views.live_network``.
"""

from __future__ import annotations

from collections import defaultdict

from schedule_engine import selectors
from schedule_engine.models import LocationType, Trip

MAX_STOPS = 20_000  # a map with more markers than this is unreadable anyway


def network_get() -> dict:
    feed = selectors.current_feed_get()
    if feed is None:
        return {"feed": None, "routes": [], "stops": []}
    shapes_of_route: dict[str, set[str]] = defaultdict(set)
    for route_id, shape_id in (
        Trip.objects.filter(feed=feed)
        .exclude(shape_id="")
        .values_list("route_id", "shape_id")
        .distinct()
    ):
        shapes_of_route[route_id].add(shape_id)
    routes = [
        {
            "route_id": route.route_id,
            "short_name": route.short_name,
            "long_name": route.long_name,
            "color": f"#{route.color}" if route.color else "",
            "shapes": [
                selectors.shape_points_get(feed_id=feed.pk, shape_id=shape_id)
                for shape_id in sorted(shapes_of_route.get(route.route_id, ()))
            ],
        }
        for route in selectors.route_list(feed=feed)
    ]
    stops = [
        {"stop_id": stop_id, "name": name, "lat": lat, "lon": lon}
        for stop_id, name, lat, lon in selectors.stop_list(feed=feed)
        .filter(location_type=LocationType.STOP, lat__isnull=False, lon__isnull=False)
        .values_list("stop_id", "name", "lat", "lon")[:MAX_STOPS]
    ]
    return {"feed": {"id": feed.pk, "name": feed.name}, "routes": routes, "stops": stops}
