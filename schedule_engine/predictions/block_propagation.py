"""Predictions that follow the block: the next trip of a late vehicle starts late.

When one vehicle runs consecutive trips of a block, a delay at the end of one trip
carries over to the next, less the scheduled layover between them (the slack the
vehicle can absorb at the terminal), as the GTFS-Realtime best practices ask of the
TripUpdates of a block's next trip. ``NextBlockTrip`` is that next trip as the
schedule gives it (``schedule_engine.blocks`` finds it, per GTFS version);
``propagated_stop_times`` gives its stop times, which the TripUpdates feed publishes
(``schedule_engine.feeds``). Pure: standard library and the predictor's values.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from schedule_engine.predictions.predictor import (
    DEFAULT,
    PredictionConfig,
    StopPrediction,
    horizon_uncertainty_s,
)


@dataclass(frozen=True, slots=True)
class BlockStopTime:
    stop_sequence: int
    stop_id: str
    arrival_s: int  # GTFS seconds after the service-day origin (may exceed 86,400)
    departure_s: int


@dataclass(frozen=True, slots=True)
class NextBlockTrip:
    """The trip the same vehicle runs next in its block, on the same service day."""

    trip_id: str
    route_id: str
    direction_id: int | None
    block_id: str
    service_date: dt.date
    start_time: str  # "HH:MM:SS", its TripDescriptor start_time (may exceed 24 h)
    first_departure_s: int  # GTFS s: its departure from its first stop
    previous_last_arrival_s: int  # GTFS s: the scheduled last arrival of the trip it follows
    layover_s: int  # first_departure_s - previous_last_arrival_s (never negative)
    stop_times: tuple[BlockStopTime, ...]  # in stop_sequence order, never empty


def end_of_trip_delay_s(
    predicted_last_arrival: float, next_trip: NextBlockTrip, origin_s: float
) -> float:
    """Seconds the trip ``next_trip`` follows is predicted late at its last stop (negative:
    early): the predicted arrival there (POSIX s) minus the scheduled one, ``origin_s``
    (POSIX s of the service day's origin) plus ``previous_last_arrival_s``."""
    return predicted_last_arrival - (origin_s + next_trip.previous_last_arrival_s)


def propagated_delay_s(end_delay_s: float, layover_s: float) -> float:
    """The delay the next trip starts with: what the layover cannot absorb, never negative.

    A bus that ends its trip early does not start the next one early: it waits at the
    terminal for its scheduled departure (riders board by the timetable), so the delay
    floors at 0 instead of going negative."""
    return max(0.0, end_delay_s - layover_s)


def propagated_stop_times(
    end_delay_s: float,
    next_trip: NextBlockTrip,
    origin_s: float,
    *,
    now: float,
    config: PredictionConfig = DEFAULT,
) -> tuple[StopPrediction, ...]:
    """The next trip's stop times: scheduled plus ``propagated_delay_s`` at every stop.

    Times are POSIX seconds (``origin_s``: POSIX s of the service day's origin). They
    strictly increase from one stop to the next (a stop may depart when it arrives), as
    the predictor's do: GTFS allows two stops at one scheduled second, GTFS-Realtime
    consumers do not. No recovery along the trip is assumed: the delay holds to the end.
    Each time's ``uncertainty_s`` grows with its horizon from ``now`` as the predictor's.
    """
    delay = propagated_delay_s(end_delay_s, next_trip.layover_s)
    out: list[StopPrediction] = []
    last = -1
    for stop in next_trip.stop_times:
        arrival = max(round(origin_s + stop.arrival_s + delay), last + 1)
        departure = max(round(origin_s + stop.departure_s + delay), arrival)
        uncertainty = horizon_uncertainty_s(arrival, now, config)
        out.append(
            StopPrediction(stop.stop_sequence, stop.stop_id, arrival, departure, uncertainty)
        )
        last = departure
    return tuple(out)
