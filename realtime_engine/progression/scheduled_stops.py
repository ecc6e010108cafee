"""A run's stop times in absolute time: its trip's template, shifted to the run's instance.

Read by ``matching``: ``start_shift_s`` (the shift of a frequency-based trip's instance)
and ``scheduled_stops``, which the prediction and congestion shells get through
``TripToMatch.scheduled_stops``. Pure over the trip schedules cached in process; no I/O.
"""

from __future__ import annotations

import datetime as dt
from functools import lru_cache

from realtime_engine.trip_schedules import TripSchedule
from schedule_engine.gtfs_import.errors import FieldError
from schedule_engine.gtfs_import.fields import parse_time
from schedule_engine.predictions.predictor import RunScheduledStop


def start_shift_s(schedule: TripSchedule, start_time: str | None) -> int:
    """How far the run's instance departs after its trip's stop-time template (0 if unknown)."""
    try:
        instance_start = parse_time(start_time or "")
    except FieldError:
        return 0
    return instance_start - schedule.trip.stops[0].departure_s


@lru_cache(maxsize=4096)
def scheduled_stops(
    schedule: TripSchedule,
    service_date: dt.date,
    sequences: tuple[int, ...],
    start_shift_s: int = 0,
) -> tuple[RunScheduledStop, ...] | None:
    """The trip's stops on its shape (``sequences``) in absolute time; None if one is unknown."""
    origin = schedule.origin(service_date) + start_shift_s
    by_sequence = {stop.stop_sequence: stop for stop in schedule.trip.stops}
    if any(sequence not in by_sequence for sequence in sequences):
        return None  # the shape's stops and the stop times disagree: nothing trustworthy
    return tuple(
        RunScheduledStop(
            stop.stop_sequence,
            stop.stop_id,
            origin + stop.arrival_s,
            origin + stop.departure_s,
            stop.timepoint,
        )
        for stop in (by_sequence[sequence] for sequence in sequences)
    )
