"""How a GTFS version's vehicles run its trips: block chains, and trips without a timetable.

A block (trips.txt ``block_id``) is the trips one vehicle runs in turn; the trip it
runs next on a service day is the block's trip with the earliest first departure at
or after this trip's last arrival among the trips whose service runs that day
(``service_days``, through ``selectors.services_on``). ``next_trips_in_block`` gives
it as a ``NextBlockTrip`` (the value ``predictions.block_propagation`` computes
with): the TripUpdates feed asks for every published run on every build, so it is
dict lookups once warm. Per version, the block index is read in one query the first
time; the active services of each date in two; the next trips' stop times in one
query per call for those not yet held (at most ``MAX_NEXT_TRIPS`` kept). Frequency-
based trips are left out of blocks: an instance is not a trip id, and the chaining
of frequency instances is not modelled.

``headway_based`` says whether a trip instance is a frequencies.txt instance with
``exact_times=0``: it has no timetable, so the predictor must not hold it to one
(``realtime_engine.progression.predictions``). Its index is read once per version.

Callers that know the current version's id pass it (``feed_id``: a feed build's
``ScheduleIds.feed_id``, a matched trip's ``ScheduledTrip.feed_id``), so no query is
needed to learn it; the last ``KEPT_VERSIONS`` versions' indexes are kept. When the
database cannot be read, the indexes in hand keep serving and what is not held is
reported absent (no propagation, a timetable assumed); reads are retried
``db_health.RETRY_AFTER_S`` later, not on every call.
"""

from __future__ import annotations

import datetime as dt
import math
import threading
import time
from bisect import bisect_left
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TypeVar

from databus.db_health import DATABASE_UNAVAILABLE, RETRY_AFTER_S, Outage
from schedule_engine import selectors
from schedule_engine.gtfs_import.errors import FieldError
from schedule_engine.gtfs_import.fields import format_time, parse_time
from schedule_engine.models import Feed, Frequency, Trip
from schedule_engine.predictions.block_propagation import BlockStopTime, NextBlockTrip
from schedule_engine.service_days import FrequencyWindow

T = TypeVar("T")

KEPT_VERSIONS = 2
# Next trips with their stop times held per version: a day's published runs and more.
MAX_NEXT_TRIPS = 50_000
ITERATOR_CHUNK = 20_000


@dataclass(frozen=True, slots=True)
class _BlockTrip:
    trip_id: str
    block_id: str
    service_id: str
    route_id: str
    direction_id: int | None
    first_departure_s: int
    last_arrival_s: int


@dataclass
class _Version:
    """One version's indexes (built on first use) and what was derived from them."""

    feed: Feed
    trips: dict[str, _BlockTrip] | None = None
    blocks: dict[str, list[_BlockTrip]] = field(default_factory=dict)  # by first departure
    frequencies: dict[str, tuple[FrequencyWindow, ...]] | None = None
    services: dict[dt.date, frozenset[str]] = field(default_factory=dict)
    next_trips: dict[tuple[str, dt.date], NextBlockTrip | None] = field(default_factory=dict)


_versions: dict[int, _Version] = {}
_lock = threading.RLock()
_outage = Outage("block index")
_paused_until = -math.inf  # time.monotonic(): no database read before then (an outage)


def next_trips_in_block(
    trips: Iterable[tuple[str, dt.date]], *, feed_id: int | None = None
) -> dict[tuple[str, dt.date], NextBlockTrip]:
    """For each (trip_id, service_date): the trip its block runs next that day; a pair
    with none (no block, the last trip of its block, a trip not running that day) is
    absent from the result. ``feed_id``: the current version's id if the caller knows it."""
    trips = list(trips)
    version = _version(feed_id)
    if version is None or not trips:
        return {}
    missing = [pair for pair in dict.fromkeys(trips) if pair not in version.next_trips]
    if missing:
        _read(lambda: _resolve(version, missing), None)
    found = (version.next_trips.get(pair) for pair in trips)
    return {pair: nxt for pair, nxt in zip(trips, found, strict=True) if nxt is not None}


def next_trip_in_block(
    trip_id: str, service_date: dt.date, *, feed_id: int | None = None
) -> NextBlockTrip | None:
    """The trip the block of ``trip_id`` runs next on ``service_date``, or None."""
    return next_trips_in_block([(trip_id, service_date)], feed_id=feed_id).get(
        (trip_id, service_date)
    )


def headway_based(trip_id: str, start_time: str | None, *, feed_id: int | None = None) -> bool:
    """Whether the instance of ``trip_id`` starting at ``start_time`` runs without a
    timetable: a frequencies.txt instance with ``exact_times=0``. The window holding
    ``start_time`` decides; an unreadable or absent start time, or one outside every
    window, is headway-based when every window of the trip is."""
    version = _version(feed_id)
    if version is None:
        return False
    if version.frequencies is None:
        version.frequencies = _read(lambda: _frequencies(version.feed), None)
        if version.frequencies is None:
            return False
    windows = version.frequencies.get(trip_id, ())
    if not windows:
        return False
    try:
        start_s = parse_time(start_time or "")
    except FieldError:
        start_s = None
    holding = [w for w in windows if start_s is not None and w.start_s <= start_s < w.end_s]
    return not any(w.exact_times for w in holding or windows)


def clear() -> None:
    """Forget every version's indexes (tests)."""
    global _paused_until
    with _lock:
        _versions.clear()
        _paused_until = -math.inf


def _read(read: Callable[[], T], otherwise: T) -> T:
    """What the database ``read`` gives, or ``otherwise`` while the database cannot be
    read. After a failure, reads pause for ``RETRY_AFTER_S``: a feed build or the ingest
    thread must not pay a connection attempt per call while PostgreSQL is down."""
    global _paused_until
    if time.monotonic() < _paused_until:
        return otherwise
    try:
        value = read()
    except DATABASE_UNAVAILABLE as error:
        _outage.failed(error)
        _paused_until = time.monotonic() + RETRY_AFTER_S
        return otherwise
    _outage.recovered()
    return value


def _version(feed_id: int | None) -> _Version | None:
    version = _versions.get(feed_id) if feed_id is not None else None
    if version is not None:
        return version
    with _lock:
        feed = _read(
            lambda: (
                Feed.objects.filter(pk=feed_id).first()
                if feed_id is not None
                else selectors.current_feed_get()
            ),
            None,
        )
        if feed is None:
            return None
        if feed.pk not in _versions:
            while len(_versions) >= KEPT_VERSIONS:
                del _versions[min(_versions)]  # the oldest id: versions are imported in order
            _versions[feed.pk] = _Version(feed)
        return _versions[feed.pk]


def _load_blocks(version: _Version) -> None:
    """The version's trips with a block and a timetable, in one query."""
    rows = (
        Trip.objects.filter(feed=version.feed, first_departure_s__isnull=False)
        .exclude(block_id="")
        .exclude(trip_id__in=Frequency.objects.filter(feed=version.feed).values("trip_id"))
        .values_list(
            "trip_id",
            "block_id",
            "service_id",
            "route_id",
            "direction_id",
            "first_departure_s",
            "last_arrival_s",
        )
    )
    trips = {row[0]: _BlockTrip(*row) for row in rows.iterator(chunk_size=ITERATOR_CHUNK)}
    blocks: dict[str, list[_BlockTrip]] = defaultdict(list)
    for trip in trips.values():
        blocks[trip.block_id].append(trip)
    for chain in blocks.values():
        chain.sort(key=lambda t: (t.first_departure_s, t.trip_id))
    version.blocks, version.trips = dict(blocks), trips


def _frequencies(feed: Feed) -> dict[str, tuple[FrequencyWindow, ...]]:
    """The version's frequencies.txt windows by trip, in one query."""
    windows: dict[str, list[FrequencyWindow]] = defaultdict(list)
    for trip_id, *window in Frequency.objects.filter(feed=feed).values_list(
        "trip_id", "start_s", "end_s", "headway_s", "exact_times"
    ):
        windows[trip_id].append(FrequencyWindow(*window))
    return {trip_id: tuple(w) for trip_id, w in windows.items()}


def _services(version: _Version, date: dt.date) -> frozenset[str]:
    if date not in version.services:
        version.services[date] = selectors.services_on(feed=version.feed, date=date)
    return version.services[date]


def _next_in_chain(version: _Version, trip_id: str, date: dt.date) -> _BlockTrip | None:
    trip = version.trips.get(trip_id)
    if trip is None:
        return None
    running = _services(version, date)
    if trip.service_id not in running:
        return None
    chain = version.blocks[trip.block_id]
    start = bisect_left(chain, trip.last_arrival_s, key=lambda t: t.first_departure_s)
    for candidate in chain[start:]:
        if candidate.trip_id != trip_id and candidate.service_id in running:
            return candidate
    return None


def _resolve(version: _Version, pairs: list[tuple[str, dt.date]]) -> None:
    """Find the next trips of ``pairs`` and read the stop times of those not held."""
    with _lock:
        if version.trips is None:
            _load_blocks(version)
        follows = {pair: _next_in_chain(version, *pair) for pair in pairs}
        wanted = {nxt.trip_id for nxt in follows.values() if nxt is not None}
        scheduled = selectors.scheduled_trips_get(wanted, feed=version.feed) if wanted else {}
        if len(version.next_trips) + len(pairs) > MAX_NEXT_TRIPS:
            version.next_trips.clear()
        for (trip_id, date), nxt in follows.items():
            stops = (
                scheduled[nxt.trip_id].stops if nxt is not None and nxt.trip_id in scheduled else ()
            )
            version.next_trips[(trip_id, date)] = (
                NextBlockTrip(
                    trip_id=nxt.trip_id,
                    route_id=nxt.route_id,
                    direction_id=nxt.direction_id,
                    block_id=nxt.block_id,
                    service_date=date,
                    start_time=format_time(nxt.first_departure_s),
                    first_departure_s=nxt.first_departure_s,
                    previous_last_arrival_s=version.trips[trip_id].last_arrival_s,
                    layover_s=nxt.first_departure_s - version.trips[trip_id].last_arrival_s,
                    stop_times=tuple(
                        BlockStopTime(s.stop_sequence, s.stop_id, s.arrival_s, s.departure_s)
                        for s in stops
                    ),
                )
                if stops
                else None
            )
