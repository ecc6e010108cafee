"""The current GTFS version's trip, route and stop ids, read once per version per process.

A feed build asks ``current_schedule_ids`` every time: one indexed query says which
version is current, and only a version not seen before is read (four queries, one
per table, of ids, a trip's span and direction, and which trips are frequency-based).
So a switch to another version takes effect on the next build, in every process, with
nothing to invalidate. While the database cannot be read, the ids in hand keep being
used (the schedule they describe did not change), and the failure is raised only when
there are none yet.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass

from django.db import DatabaseError

from schedule_engine.feeds.schedule_agreement import ScheduleIds, TripFacts
from schedule_engine.models import Feed, Frequency, Route, Stop, Trip

logger = logging.getLogger(__name__)

ITERATOR_CHUNK = 20_000


@dataclass
class _Cache:
    ids: ScheduleIds | None = None


_cache = _Cache()
_lock = threading.Lock()


def current_schedule_ids() -> ScheduleIds | None:
    """The current version's ids (None when no version is current)."""
    try:
        current = Feed.objects.filter(is_current=True).values_list("pk", "timezone").first()
    except DatabaseError as error:
        if _cache.ids is None:
            raise
        logger.warning(
            "schedule ids: database unavailable (%s); keeping version %s", error, _cache.ids.feed_id
        )
        return _cache.ids
    if current is None:
        return None
    with _lock:
        if _cache.ids is None or _cache.ids.feed_id != current[0]:
            _cache.ids = schedule_ids_read(*current)
        return _cache.ids


def schedule_ids_read(feed_id: int, timezone: str) -> ScheduleIds:
    """Every trip (with its route, span, direction and frequency kind), route and stop id
    of one version."""
    trips = Trip.objects.filter(feed_id=feed_id).values_list(
        "trip_id", "route_id", "first_departure_s", "last_arrival_s", "direction_id"
    )
    # A trip is exact-times only if every window of it is (frequencies.txt, per window).
    exact: dict[str, bool] = {}
    for trip_id, exact_times in Frequency.objects.filter(feed_id=feed_id).values_list(
        "trip_id", "exact_times"
    ):
        exact[trip_id] = exact.get(trip_id, True) and exact_times
    return ScheduleIds(
        feed_id=feed_id,
        timezone=timezone,
        trips={
            trip_id: TripFacts(route_id, first, last, direction, exact.get(trip_id))
            for trip_id, route_id, first, last, direction in trips.iterator(
                chunk_size=ITERATOR_CHUNK
            )
        },
        routes=frozenset(Route.objects.filter(feed_id=feed_id).values_list("route_id", flat=True)),
        stops=frozenset(
            Stop.objects.filter(feed_id=feed_id)
            .values_list("stop_id", flat=True)
            .iterator(chunk_size=ITERATOR_CHUNK)
        ),
    )
