"""What the rest of databus reads about the schedule: frozen values, no Django.

`ScheduledTrip` (a trip of the current feed with its stops in order, times as
GTFS seconds after the service-day origin) is returned by
`selectors.scheduled_trip_get`; `ScheduledTripInstance` (one trip running on one
service date, absolute aware datetimes, frequency-based trips expanded) by
`selectors.service_day_trips`.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class TripStopTime:
    """A stop of a ``ScheduledTrip``, its times in GTFS seconds after the service-day origin
    (``RunScheduledStop`` is the predictor's: POSIX times on one run's day)."""

    stop_sequence: int
    stop_id: str
    arrival_s: int
    departure_s: int
    timepoint: bool
    distance_m: float | None  # metres along the trip's shape; None when the trip has no shape


@dataclass(frozen=True, slots=True)
class ScheduledTrip:
    trip_id: str
    route_id: str
    direction_id: int | None
    shape_id: str | None
    service_id: str
    start_time: str  # "HH:MM:SS" of the first departure, as in GTFS (may exceed 24 h)
    feed_id: int
    stops: tuple[TripStopTime, ...]


@dataclass(frozen=True, slots=True)
class ScheduledStopTime:
    stop_sequence: int
    stop_id: str
    arrival: dt.datetime
    departure: dt.datetime


@dataclass(frozen=True, slots=True)
class ScheduledTripInstance:
    """One trip on one service date. A frequency-based trip gives one per scheduled start."""

    trip_id: str
    route_id: str
    direction_id: int | None
    shape_id: str | None
    service_id: str
    service_date: dt.date
    start_time: str  # "HH:MM:SS" of this instance's first departure (GTFS-RT trip start_time)
    first_departure: dt.datetime
    last_arrival: dt.datetime
    frequency_based: bool
    exact_times: bool  # frequencies.txt exact_times=1; False for headway-based and plain trips
    stop_times: tuple[ScheduledStopTime, ...]  # empty when the caller asked without stop times
