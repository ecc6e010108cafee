"""What the system would have recorded of a planned run: positions and published predictions. Pure.

``positions`` samples a ``PlannedRun`` about every ``every_s`` seconds from the moment
its vehicle reached the first stop until it reached the terminal, each vehicle on its
own phase, with a few metres of GPS noise, a few reports lost and none inside the run's
signal gap; the last
position is the arrival at the terminal. ``parked`` is what a vehicle reports between
two of its runs when it stays on (a turnaround up to ``PARKED_REPORTING_S``): standing at
the terminal, off any run, the pings a data-quality report counts as not matched.

``predictions`` is what the TripUpdates feed would have published at each build on a
global grid of ``every_s`` (as ``reports.prediction_log`` samples it): for every stop
still ahead whose arrival lies within ``max_horizon_s``, a predicted arrival whose
error (predicted - observed) has a spread that grows with the horizon, a bias towards
optimism (buses arrive later than told, more so far ahead), and, for one stop, errors
correlated from one build to the next (a prediction drifts; it does not jump). The
sizes follow published figures for bus ETAs: tens of seconds at a few minutes out,
two to three minutes at fifteen. A prediction published for a time already past is
left out, as the feed does.

Imports the simulator's pure motion module only.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

from realtime_engine.simulation.motion import motion_sample, shape_point
from reports.demo_history.day import PlannedRun

GPS_NOISE_M = 3.0
# A tracker's reporting interval wanders by a few seconds, and a few reports never arrive.
INTERVAL_JITTER_S = 3.0
LOST_SHARE = 0.02
METRES_PER_DEGREE = 111_320.0
# When a position reaches the server after the vehicle measured it.
RECEIVE_LAG_S = (0.2, 1.6)
# A vehicle off longer than this between runs was switched off (it reports nothing).
PARKED_REPORTING_S = 10 * 60.0
# Prediction error model: spread (s) = BASE + PER_HORIZON x horizon, bias = -OPTIMISM x
# horizon; ERROR_CORRELATION between one build and the next for one stop.
ERROR_BASE_S = 12.0
ERROR_PER_HORIZON = 0.11
OPTIMISM = 0.035
ERROR_CORRELATION = 0.85


@dataclass(frozen=True, slots=True)
class PositionSample:
    timestamp: float  # POSIX, measured by the vehicle
    received_at: float
    latitude: float
    longitude: float
    bearing: float
    speed: float  # m/s
    odometer: float  # m


@dataclass(frozen=True, slots=True)
class PredictionSample:
    predicted_at: float  # POSIX: the feed build's header timestamp
    stop_index: int  # into the run's stops
    predicted_arrival: float  # POSIX, whole seconds as the feed carries them
    horizon_s: int  # predicted_arrival - predicted_at, > 0


def positions(run: PlannedRun, *, every_s: float, rng: random.Random) -> list[PositionSample]:
    motion = run.motion
    end = motion.arrival_s
    moments = []
    t = rng.uniform(0.0, every_s)
    while t < end:
        if rng.random() >= LOST_SHARE:
            moments.append(t)
        t += every_s + rng.uniform(-INTERVAL_JITTER_S, INTERVAL_JITTER_S)
    moments.append(end)
    out = []
    for t in moments:
        at = run.taken_at + t
        if run.signal_gap is not None and run.signal_gap[0] <= at < run.signal_gap[1]:
            continue
        sample = motion_sample(motion, t)
        point = shape_point(motion.geometry, sample.distance_m)
        north, east = rng.gauss(0.0, GPS_NOISE_M), rng.gauss(0.0, GPS_NOISE_M)
        latitude = point.latitude + north / METRES_PER_DEGREE
        longitude = point.longitude + east / (
            METRES_PER_DEGREE * math.cos(math.radians(point.latitude))
        )
        out.append(
            PositionSample(
                timestamp=round(at, 3),
                received_at=round(at + rng.uniform(*RECEIVE_LAG_S), 3),
                latitude=latitude,
                longitude=longitude,
                bearing=round(point.bearing_deg, 1),
                speed=round(sample.speed_mps, 2),
                odometer=round(
                    run.odometer_start_m + sample.distance_m - motion.stops[0].distance_m, 1
                ),
            )
        )
    return out


def parked(
    previous: PlannedRun, following: PlannedRun, *, every_s: float, rng: random.Random
) -> list[PositionSample]:
    """Positions at ``previous``'s terminal between its end and ``following``'s start."""
    if following.taken_at - previous.ended_at > PARKED_REPORTING_S:
        return []
    motion = previous.motion
    point = shape_point(motion.geometry, motion.stops[-1].distance_m)
    odometer = previous.odometer_start_m + motion.stops[-1].distance_m - motion.stops[0].distance_m
    out = []
    at = previous.ended_at + every_s
    while at < following.taken_at - 1.0:
        out.append(
            PositionSample(
                timestamp=round(at, 3),
                received_at=round(at + rng.uniform(*RECEIVE_LAG_S), 3),
                latitude=point.latitude + rng.gauss(0.0, GPS_NOISE_M) / METRES_PER_DEGREE,
                longitude=point.longitude,
                bearing=round(point.bearing_deg, 1),
                speed=0.0,
                odometer=round(odometer, 1),
            )
        )
        at += every_s
    return out


def predictions(
    run: PlannedRun, *, every_s: float, max_horizon_s: float, rng: random.Random
) -> list[PredictionSample]:
    arrivals = [arrival for arrival, _ in run.stop_times()]
    out = []
    errors: dict[int, float] = {}  # the standardized error of each stop at the last build
    keep = math.sqrt(1.0 - ERROR_CORRELATION**2)
    build = math.ceil(run.taken_at / every_s) * every_s
    while build < run.ended_at:
        # The first stop is where the run began: never ahead of a build.
        for index in range(1, len(arrivals)):
            ahead = arrivals[index] - build
            if ahead <= 0:
                continue
            if ahead > max_horizon_s:
                break
            z = errors.get(index)
            z = (
                rng.gauss(0.0, 1.0)
                if z is None
                else ERROR_CORRELATION * z + keep * rng.gauss(0.0, 1.0)
            )
            errors[index] = z
            error = -OPTIMISM * ahead + (ERROR_BASE_S + ERROR_PER_HORIZON * ahead) * z
            predicted = round(arrivals[index] + error)
            horizon = int(predicted - build)
            if 0 < horizon <= max_horizon_s:
                out.append(PredictionSample(build, index, predicted, horizon))
        build += every_s
    return out
