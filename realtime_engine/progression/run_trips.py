"""The trip a run drives on its service day, prepared once per (trip, day, start time).

Every batch, ``matching`` needs each tracked run's trip: its geometry, stop times, scheduled
start and stops in absolute time. Parsing the run's start date and time and placing the
stop times on the service day (time-zone arithmetic) cost more than matching a fix, and
give the same answer for every fix of the run, so ``trip_to_match`` keeps the result. An
entry is used only while the trip's geometry and schedule are the very objects it was
built from: both caches replace them when another feed version becomes current (and the
schedule cache when its entry expires), so a GTFS version change rebuilds the entry. At
most ``MAX_ENTRIES`` runs' trips are kept; past that the cache starts again empty (a
day's runs of one worker, each a few KB). No I/O beyond those caches'.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterable
from dataclasses import dataclass

from realtime_engine.progression.scheduled_stops import scheduled_stops, start_shift_s
from realtime_engine.trip_schedules import (
    TripSchedule,
    trip_schedule_get,
    trip_schedules_prefetch,
)
from runs.domain.geometry import TripGeometry
from schedule_engine.predictions.predictor import RunScheduledStop
from schedule_engine.selectors import trip_geometry_get

# Runs of a national fleet's day (50,000 vehicles) fit; each entry is its trip's stops.
MAX_ENTRIES = 100_000


@dataclass(frozen=True, slots=True)
class TripToMatch:
    """The trip a run drives on its service day: what its fixes are matched against."""

    trip_id: str
    service_date: dt.date
    # The run's start_time minus its trip's first departure: non-zero for an instance of a
    # frequency-based trip, whose stop times are a template shifted to the instance.
    start_shift_s: int
    geometry: TripGeometry
    schedule: TripSchedule
    # When the instance leaves its first stop (POSIX s), and its stops on the shape in
    # absolute time (``scheduled_stops``; None if the shape's stops and stop times disagree).
    scheduled_start: float
    stops: tuple[RunScheduledStop, ...] | None

    def scheduled_stops(self) -> tuple[RunScheduledStop, ...] | None:
        """The trip's stops on its shape in absolute time (``scheduled_stops``)."""
        return self.stops


_entries: dict[tuple[str, str | None, str | None], TripToMatch] = {}
_lock = threading.Lock()


def _service_date(text: str | None) -> dt.date | None:
    try:
        return dt.datetime.strptime(text or "", "%Y%m%d").date()
    except ValueError:
        return None


def _build(
    trip_id: str,
    start_date: str | None,
    start_time: str | None,
    geometry: TripGeometry,
    schedule: TripSchedule,
) -> TripToMatch | None:
    service_date = _service_date(start_date)
    if service_date is None:
        return None
    shift = start_shift_s(schedule, start_time)
    return TripToMatch(
        trip_id=trip_id,
        service_date=service_date,
        start_shift_s=shift,
        geometry=geometry,
        schedule=schedule,
        scheduled_start=schedule.scheduled_start(service_date) + shift,
        stops=scheduled_stops(schedule, service_date, geometry.stop_sequences, shift),
    )


def trip_to_match(
    trip_id: str | None, start_date: str | None, start_time: str | None
) -> TripToMatch | None:
    """The run's trip (its ``trip_id``, ``start_date``, ``start_time`` as projected); None
    without a trip, a readable service day, a shape or stop times: nothing to match against."""
    if not trip_id:
        return None
    geometry = trip_geometry_get(trip_id)
    schedule = trip_schedule_get(trip_id, geometry)
    if geometry is None or schedule is None:
        return None
    key = (trip_id, start_date, start_time)
    entry = _entries.get(key)
    if entry is not None and entry.geometry is geometry and entry.schedule is schedule:
        return entry
    entry = _build(trip_id, start_date, start_time, geometry, schedule)
    if entry is not None:
        with _lock:
            if len(_entries) >= MAX_ENTRIES:
                _entries.clear()
            _entries[key] = entry
    return entry


def trips_to_match_prefetch(trip_ids: Iterable[str | None]) -> None:
    """Read the schedules of the batch's trips that no cache holds in one query, before
    ``trip_to_match`` asks for them one by one (a cold worker under a full fleet)."""
    trip_schedules_prefetch(
        {trip_id: trip_geometry_get(trip_id) for trip_id in set(trip_ids) if trip_id}
    )


def clear() -> None:
    """Forget every prepared trip (tests)."""
    with _lock:
        _entries.clear()
