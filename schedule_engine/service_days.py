"""Service days, as pure functions: which services run on a date, absolute times, frequencies.

GTFS times are seconds after the service day's origin, "noon minus 12 h" in the
agency's time zone (midnight except on daylight-saving change days), so a trip
at 25:10:00 runs at 01:10 the next calendar morning. Read by
`selectors.service_day_trips`; imports no Django.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from schedule_engine.gtfs_import.errors import FieldError
from schedule_engine.gtfs_import.fields import format_time, parse_time
from schedule_engine.scheduled import ScheduledStopTime, ScheduledTrip, ScheduledTripInstance

ADDED, REMOVED = 1, 2


@dataclass(frozen=True, slots=True)
class CalendarRule:
    service_id: str
    weekdays: tuple[bool, bool, bool, bool, bool, bool, bool]  # Monday first
    start_date: dt.date
    end_date: dt.date

    def runs_on(self, date: dt.date) -> bool:
        return self.start_date <= date <= self.end_date and self.weekdays[date.weekday()]


@dataclass(frozen=True, slots=True)
class FrequencyWindow:
    start_s: int
    end_s: int
    headway_s: int
    exact_times: bool


def active_service_ids(
    date: dt.date, rules: Iterable[CalendarRule], exceptions: Iterable[tuple[str, int]]
) -> frozenset[str]:
    """Services running on ``date``: the calendar, then that date's added/removed exceptions."""
    active = {rule.service_id for rule in rules if rule.runs_on(date)}
    for service_id, exception_type in exceptions:
        if exception_type == ADDED:
            active.add(service_id)
        elif exception_type == REMOVED:
            active.discard(service_id)
    return frozenset(active)


def service_day_origin(date: dt.date, tz: ZoneInfo) -> dt.datetime:
    """The instant GTFS times of ``date`` count from: local noon minus 12 hours (in UTC)."""
    noon = dt.datetime.combine(date, dt.time(12), tzinfo=tz)
    return noon.astimezone(dt.UTC) - dt.timedelta(hours=12)


def absolute_time(origin: dt.datetime, seconds: int, tz: ZoneInfo) -> dt.datetime:
    return (origin + dt.timedelta(seconds=seconds)).astimezone(tz)


def trip_instance_end(
    service_date: dt.date,
    tz: ZoneInfo,
    *,
    first_departure_s: int,
    last_arrival_s: int,
    start_time: str = "",
) -> dt.datetime:
    """When one instance of a trip is scheduled at its last stop: the trip's last arrival on
    ``service_date``, moved by as much as the instance's ``start_time`` (GTFS-RT, HH:MM:SS)
    differs from the trip's first departure (a frequency-based trip's later instances). An
    empty or unreadable ``start_time`` means the trip's own first departure."""
    try:
        shift = parse_time(start_time) - first_departure_s if start_time else 0
    except FieldError:
        shift = 0
    return absolute_time(service_day_origin(service_date, tz), last_arrival_s + shift, tz)


def frequency_starts(windows: Sequence[FrequencyWindow]) -> list[tuple[int, bool]]:
    """Scheduled first departures of a frequency-based trip: start, start + headway, ... < end."""
    starts = []
    for window in windows:
        start = window.start_s
        while start < window.end_s:
            starts.append((start, window.exact_times))
            start += window.headway_s
    return sorted(starts)


def trip_instances(
    *,
    trip: ScheduledTrip,
    first_departure_s: int,
    last_arrival_s: int,
    service_date: dt.date,
    tz: ZoneInfo,
    frequencies: Sequence[FrequencyWindow] = (),
) -> list[ScheduledTripInstance]:
    """The trip's instances on ``service_date``; its stops (if given) shifted to each start."""
    origin = service_day_origin(service_date, tz)
    starts = frequency_starts(frequencies) if frequencies else [(first_departure_s, False)]
    instances = []
    for start_s, exact in starts:
        shift = start_s - first_departure_s
        instances.append(
            ScheduledTripInstance(
                trip_id=trip.trip_id,
                route_id=trip.route_id,
                direction_id=trip.direction_id,
                shape_id=trip.shape_id,
                service_id=trip.service_id,
                service_date=service_date,
                start_time=format_time(start_s),
                first_departure=absolute_time(origin, start_s, tz),
                last_arrival=absolute_time(origin, last_arrival_s + shift, tz),
                frequency_based=bool(frequencies),
                exact_times=exact,
                stop_times=tuple(
                    ScheduledStopTime(
                        stop.stop_sequence,
                        stop.stop_id,
                        absolute_time(origin, stop.arrival_s + shift, tz),
                        absolute_time(origin, stop.departure_s + shift, tz),
                    )
                    for stop in trip.stops
                ),
            )
        )
    return instances
