"""In-process cache of scheduled trips (stop times) for the progression observer.

The observer needs each run's scheduled stop times (its scheduled start, the
predictions' baseline, the scheduled segment speeds) for every position, and may
not query the database per position: a trip is read once with
``schedule_engine.selectors.scheduled_trips_get`` and kept for about ``TTL_S``, unknown
trips included. ``trip_schedules_prefetch`` reads every trip a batch needs that is not
held in one query, so a worker that starts (or whose entries expire) under a full fleet
pays one read per batch, not one per trip (5-15 ms each: at 6,000 vehicles, a minute of
lag). Each entry's lifetime is spread over ``TTL_S`` to 1.25 ``TTL_S`` by its trip id,
so a fleet's entries do not all expire in one batch, and an entry read again with the
same content keeps its object, so what is prepared from it (``progression.run_trips``)
stays valid. Each entry remembers the trip geometry it was read with: the
schedule engine's geometry cache replaces its values when another feed version
becomes current, and a different geometry makes the entry be read again, so stop
times and shape always come from one feed version. A lock serialises the loads.
When the database cannot be read (a PostgreSQL restart), an expired entry keeps
being served and is read again ``db_health.RETRY_AFTER_S`` later.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from databus.db_health import DATABASE_UNAVAILABLE, RETRY_AFTER_S, Outage
from schedule_engine.models import Feed
from schedule_engine.scheduled import ScheduledTrip
from schedule_engine.selectors import scheduled_trips_get
from schedule_engine.service_days import service_day_origin

TTL_S = 600.0
DEFAULT_TIMEZONE = "UTC"


@dataclass(frozen=True, slots=True, eq=False)  # identity hash: a cheap cache key
class TripSchedule:
    """A trip's stop times and the time zone its GTFS times count in."""

    trip: ScheduledTrip
    timezone: ZoneInfo

    def origin(self, service_date: dt.date) -> float:
        """POSIX seconds of the service day's origin (local noon minus 12 h)."""
        return service_day_origin(service_date, self.timezone).timestamp()

    def scheduled_start(self, service_date: dt.date) -> float:
        """POSIX seconds of the departure from the trip's first stop on ``service_date``."""
        first = self.trip.stops[0]
        return self.origin(service_date) + first.departure_s


_entries: dict[str, tuple[float, object, TripSchedule | None]] = {}
_timezones: dict[int, ZoneInfo] = {}  # feed id → its agency time zone
_lock = threading.Lock()
_outage = Outage("trip schedule cache")


def _timezone_of(feed_id: int) -> ZoneInfo:
    if feed_id not in _timezones:
        feed = Feed.objects.filter(pk=feed_id).first()
        _timezones[feed_id] = ZoneInfo(getattr(feed, "timezone", "") or DEFAULT_TIMEZONE)
    return _timezones[feed_id]


def _lifetime_s(trip_id: str) -> float:
    return TTL_S * (1.0 + (zlib.crc32(trip_id.encode()) % 1024) / 4096)


def _held(trip_id: str, geometry: object, now: float) -> bool:
    entry = _entries.get(trip_id)
    return entry is not None and now - entry[0] <= _lifetime_s(trip_id) and entry[1] is geometry


def trip_schedule_get(trip_id: str, geometry: object = None) -> TripSchedule | None:
    """The trip of the current feed with its stops, or None (cached either way).

    ``geometry``: the trip geometry the caller matches with; an entry read with
    another one (an older feed version) is read again.
    """
    if not _held(trip_id, geometry, time.monotonic()):
        trip_schedules_prefetch({trip_id: geometry})
    return _entries[trip_id][2]


def trip_schedules_prefetch(trips: Mapping[str, object]) -> None:
    """Read, in one query, every trip of ``trips`` (trip id → the geometry the caller
    matches it with) not held for that geometry. When the database cannot be read, an entry
    of the same geometry keeps being served; a trip without one raises."""
    now = time.monotonic()
    wanted = {tid: geometry for tid, geometry in trips.items() if not _held(tid, geometry, now)}
    if not wanted:
        return
    with _lock:
        wanted = {
            tid: geometry for tid, geometry in wanted.items() if not _held(tid, geometry, now)
        }
        if not wanted:
            return
        try:
            read = scheduled_trips_get(wanted)
            timezones = {trip.feed_id: _timezone_of(trip.feed_id) for trip in read.values()}
        except DATABASE_UNAVAILABLE as error:
            servable = all(
                tid in _entries and _entries[tid][1] is geometry for tid, geometry in wanted.items()
            )
            if not servable:
                raise  # no value of this feed version to serve for one of them
            _outage.failed(error)
            for tid, geometry in wanted.items():
                held = _entries[tid][2]
                _entries[tid] = (now - _lifetime_s(tid) + RETRY_AFTER_S, geometry, held)
            return
        _outage.recovered()
        for tid, geometry in wanted.items():
            trip = read.get(tid)
            value = None
            if trip is not None and trip.stops:
                previous = _entries.get(tid)
                held = previous[2] if previous is not None and previous[1] is geometry else None
                value = (
                    held
                    if held is not None and held.trip == trip
                    else TripSchedule(trip, timezones[trip.feed_id])
                )
            _entries[tid] = (now, geometry, value)


def clear() -> None:
    """Forget every cached trip."""
    with _lock:
        _entries.clear()
        _timezones.clear()
