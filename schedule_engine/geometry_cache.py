"""In-process cache of every trip's geometry for the current feed version.

Map-matching locates every position on its trip's shape, so the lookup must not
touch the database: the first lookup builds all `TripGeometry` values of the
current feed (shapes projected once, stop distances stored at import) and later
lookups are a dict read. The current feed id is re-read at most every
`CURRENT_FEED_RECHECK_S` seconds (other processes may activate a new version);
`invalidate()` forces the next lookup to re-read it (called on activation). A
version that did not change is not rebuilt. When the database cannot be read (a
PostgreSQL restart), the geometries in hand keep being served and the re-read is
retried `db_health.RETRY_AFTER_S` later: matching carries on through the outage.
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass

from databus.db_health import DATABASE_UNAVAILABLE, RETRY_AFTER_S, Outage
from runs.domain.geometry import LocalProjection, Polyline, TripGeometry, projection_around
from schedule_engine.models import Feed, ShapePoint, StopTime, Trip

CURRENT_FEED_RECHECK_S = 30.0
ITERATOR_CHUNK = 20_000


@dataclass
class _Cache:
    feed_id: int | None
    geometries: dict[str, TripGeometry]
    checked_at: float


_cache = _Cache(None, {}, -math.inf)
_lock = threading.Lock()
_outage = Outage("trip geometry cache")


def trip_geometry(trip_id: str) -> TripGeometry | None:
    cache = _cache
    if time.monotonic() - cache.checked_at > CURRENT_FEED_RECHECK_S:
        cache = _refresh()
    return cache.geometries.get(trip_id)


def invalidate() -> None:
    """Re-read the current feed on the next lookup (geometries are kept if it is unchanged)."""
    _cache.checked_at = -math.inf


def _refresh() -> _Cache:
    global _cache
    with _lock:
        now = time.monotonic()
        if now - _cache.checked_at <= CURRENT_FEED_RECHECK_S:
            return _cache  # another thread refreshed it meanwhile
        try:
            feed_id = Feed.objects.filter(is_current=True).values_list("pk", flat=True).first()
            if feed_id == _cache.feed_id:
                _cache.checked_at = now
            else:
                geometries = build_trip_geometries(feed_id) if feed_id is not None else {}
                _cache = _Cache(feed_id, geometries, now)
        except DATABASE_UNAVAILABLE as error:
            if _cache.feed_id is None:
                raise  # nothing read yet: there is no last value to serve
            _outage.failed(error)
            _cache.checked_at = now - CURRENT_FEED_RECHECK_S + RETRY_AFTER_S
            return _cache
        _outage.recovered()
        return _cache


def build_trip_geometries(feed_id: int) -> dict[str, TripGeometry]:
    """All trip geometries of one feed version (trips whose shape has a polyline)."""
    shapes: dict[str, tuple[LocalProjection, Polyline]] = {}
    points = (
        ShapePoint.objects.filter(feed_id=feed_id)
        .order_by("shape_id", "sequence")
        .values_list("shape_id", "lat", "lon")
    )
    current_id, latlon = None, []
    for shape_id, lat, lon in [*points.iterator(chunk_size=ITERATOR_CHUNK), (None, 0, 0)]:
        if shape_id != current_id:
            if current_id is not None:
                projection = projection_around(latlon)
                try:
                    polyline = Polyline.from_xy([projection.to_xy(*p) for p in latlon])
                except ValueError:
                    pass  # a degenerate shape (reported at import) gives no geometry
                else:
                    shapes[current_id] = (projection, polyline)
            current_id, latlon = shape_id, []
        latlon.append((lat, lon))

    trip_shapes = dict(
        Trip.objects.filter(feed_id=feed_id).exclude(shape_id="").values_list("trip_id", "shape_id")
    )
    stop_times = (
        StopTime.objects.filter(feed_id=feed_id, distance_m__isnull=False)
        .order_by("trip_id", "stop_sequence")
        .values_list("trip_id", "stop_sequence", "stop_id", "distance_m")
    )
    geometries: dict[str, TripGeometry] = {}
    # Trips of one stop pattern share their tuples.
    shared: dict[tuple, tuple] = {}
    rows: list[tuple] = []
    for row in [*stop_times.iterator(chunk_size=ITERATOR_CHUNK), (None, 0, "", 0.0)]:
        if rows and row[0] != rows[0][0]:
            trip_id = rows[0][0]
            shape = shapes.get(trip_shapes.get(trip_id, ""))
            if shape is not None:
                parts = tuple(tuple(r[i] for r in rows) for i in (1, 2, 3))
                sequences, stop_ids, distances = (shared.setdefault(p, p) for p in parts)
                geometries[trip_id] = TripGeometry(
                    trip_id=trip_id,
                    shape_id=trip_shapes[trip_id],
                    projection=shape[0],
                    polyline=shape[1],
                    stop_sequences=sequences,
                    stop_ids=stop_ids,
                    stop_distances_m=distances,
                )
            rows = []
        rows.append(row)
    return geometries
