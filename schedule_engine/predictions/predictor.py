"""Predicting a run's remaining arrivals: schedule deviation propagated, refined by history.

For the next stop the vehicle's current deviation from the schedule applies
(``inputs.schedule_deviation_s``); each following segment then takes the mean
observed travel time of that segment (``SegmentHistory``: the shell selects the
same hour of day) when there are enough samples, else the scheduled one.
Recovery: a late bus cuts a scheduled layover short and an early one waits in it;
at timepoints a bus more than ``early_tolerance_s`` early waits. A headway-based trip
(frequencies.txt ``exact_times=0``) has no timetable to recover to: nothing waits.
The next stop's time, deviation plus scheduled time, is the position's time plus the
scheduled running time from there, so such a trip's predictions are travel times
from the position (history, else the template's running times) and nothing else.
Stops already passed keep their observed times. Each prediction carries an
uncertainty growing with the horizon; times are strictly increasing in stop_sequence
order.
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import msgspec


@dataclass(frozen=True, slots=True)
class RunScheduledStop:
    stop_sequence: int
    stop_id: str
    arrival: float  # POSIX seconds on the run's service day
    departure: float
    timepoint: bool = False


@dataclass(frozen=True, slots=True)
class ObservedStop:
    arrived_at: float
    departed_at: float | None


class StopPrediction(msgspec.Struct, frozen=True):
    """One stop's predicted (or observed) times. A struct, not a dataclass: every matched
    position makes one per stop of its trip, and a frozen dataclass costs several times as
    much to build."""

    stop_sequence: int
    stop_id: str
    arrival: int
    departure: int
    uncertainty_s: int
    observed: bool = False


@dataclass(frozen=True, slots=True)
class PredictionConfig:
    min_history_samples: int = 1
    # The schedule counts as this many observed samples of a segment's travel time.
    schedule_prior_samples: float = 0.0
    uncertainty_base_s: float = 30.0
    uncertainty_per_minute_s: float = 6.0  # added per minute of horizon
    hold_at_timepoints: bool = True
    # How early a bus may leave a timepoint (WMATA counts up to 2 min early as on time).
    early_tolerance_s: float = 120.0


DEFAULT = PredictionConfig()

# (from stop_id, to stop_id) → observed travel times (s), arrival to arrival, of the same
# segment around the same hour: the shell selects them from the stop-event table.
SegmentHistory = Mapping[tuple[str, str], Sequence[float]]


def horizon_uncertainty_s(arrival: float, now: float, config: PredictionConfig = DEFAULT) -> int:
    """A predicted time's uncertainty: the base, plus so much per minute of horizon (none
    for a stop due now or past)."""
    ahead_s = arrival - now
    minutes = ahead_s / 60.0 if ahead_s > 0 else 0.0
    return round(config.uncertainty_base_s + config.uncertainty_per_minute_s * minutes)


def predict_stop_times(
    schedule: Sequence[RunScheduledStop],
    *,
    next_index: int,
    now: float,
    delay_s: float,
    observed: Mapping[int, ObservedStop] | None = None,
    history: SegmentHistory | None = None,
    config: PredictionConfig = DEFAULT,
    headway_based: bool = False,
) -> tuple[StopPrediction, ...]:
    """Every stop of the trip, sorted by stop_sequence, times strictly increasing.

    ``next_index``: the stop the vehicle is at or heading to; ``delay_s``: its
    current deviation from the schedule there; ``observed``: stop events by
    stop_sequence (stops before ``next_index`` without one are left out).
    ``headway_based``: the trip has no timetable (a frequencies.txt instance with
    exact_times=0), so nothing waits for a scheduled departure: its stop times are
    only running and dwell times, and the times follow from the position alone.
    """
    observed = observed or {}
    history = history or {}
    min_samples, prior = config.min_history_samples, config.schedule_prior_samples
    hold, tolerance_s = config.hold_at_timepoints, config.early_tolerance_s
    timetable = not headway_based
    out: list[StopPrediction] = []
    last = -1
    for stop in schedule[:next_index]:
        seen = observed.get(stop.stop_sequence)
        if seen is None:
            continue
        arrival = max(round(seen.arrived_at), last + 1)
        departure = max(round(seen.departed_at or seen.arrived_at), arrival)
        out.append(StopPrediction(stop.stop_sequence, stop.stop_id, arrival, departure, 0, True))
        last = departure
    previous: RunScheduledStop | None = None
    previous_arrival = 0.0
    for stop in schedule[next_index:]:
        if previous is None:
            arrival = stop.arrival + delay_s
            if arrival < now:
                arrival = now
        else:
            travel = stop.arrival - previous.arrival  # scheduled
            samples = history.get((previous.stop_id, stop.stop_id))
            if samples and len(samples) >= min_samples:
                # Observed mean, pulled towards the schedule while there are few samples.
                weight = len(samples) / (len(samples) + prior)
                travel = weight * statistics.fmean(samples) + (1.0 - weight) * travel
            arrival = previous_arrival + travel
        dwell = stop.departure - stop.arrival
        departure = arrival + dwell
        if timetable and dwell > 0:
            # A layover: a late bus cuts it short, an early one waits for its time.
            departure = arrival if arrival >= stop.departure else stop.departure
        if timetable and hold and stop.timepoint and departure < stop.departure - tolerance_s:
            # Recovery at a timepoint: a bus more than the tolerated earliness ahead waits.
            departure = stop.departure - tolerance_s
        arrival_s = round(arrival)
        if arrival_s <= last:
            arrival_s = last + 1
        departure_s = round(departure)
        if departure_s < arrival_s:
            departure_s = arrival_s
        out.append(
            StopPrediction(
                stop.stop_sequence,
                stop.stop_id,
                arrival_s,
                departure_s,
                horizon_uncertainty_s(arrival_s, now, config),
            )
        )
        last = departure_s
        # Travel times are arrival to arrival (dwell included): run on from the departure.
        previous, previous_arrival = stop, departure - dwell
    return tuple(out)
