"""In-process cache of scheduled trips (stop times) for the progression observer.

The observer needs each run's scheduled stop times (its scheduled start, the
predictions' baseline, the scheduled segment speeds) for every position, and may
not query the database per position: a trip is read once with
``schedule_engine.selectors.scheduled_trip_get`` and kept for ``TTL_S``, unknown
trips included. Each entry remembers the trip geometry it was read with: the
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
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from databus.db_health import DATABASE_UNAVAILABLE, RETRY_AFTER_S, Outage
from schedule_engine.models import Feed
from schedule_engine.scheduled import ScheduledTrip
from schedule_engine.selectors import scheduled_trip_get
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


def trip_schedule_get(trip_id: str, geometry: object = None) -> TripSchedule | None:
    """The trip of the current feed with its stops, or None (cached either way).

    ``geometry``: the trip geometry the caller matches with; an entry read with
    another one (an older feed version) is read again.
    """
    now = time.monotonic()
    entry = _entries.get(trip_id)
    if entry is not None and now - entry[0] <= TTL_S and entry[1] is geometry:
        return entry[2]
    with _lock:
        try:
            trip = scheduled_trip_get(trip_id)
            value = None
            if trip is not None and trip.stops:
                value = TripSchedule(trip, _timezone_of(trip.feed_id))
        except DATABASE_UNAVAILABLE as error:
            if entry is None or entry[1] is not geometry:
                raise  # no value of this feed version to serve
            _outage.failed(error)
            _entries[trip_id] = (now - TTL_S + RETRY_AFTER_S, geometry, entry[2])
            return entry[2]
        _outage.recovered()
        _entries[trip_id] = (now, geometry, value)
    return value


def clear() -> None:
    """Forget every cached trip."""
    with _lock:
        _entries.clear()
        _timezones.clear()
