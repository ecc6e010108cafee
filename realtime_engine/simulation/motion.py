"""A simulated vehicle's motion along one trip: where it is at any simulated second. Pure.

``trip_motion`` turns a trip's geometry and scheduled stop times into stop timings in
simulated seconds counted from the moment the vehicle takes the trip: a layover at
the first stop, then for each leg a travel time derived from the schedule (jittered a
little, deterministically from the seed), a dwell at every intermediate stop, and a
dwell at the terminal, after which the vehicle stays parked there. ``motion_sample``
gives the distance along the shape and the speed at a simulated second (a cosine
speed profile per leg: pulling away from a stop, braking into the next one), and
``shape_point`` the latitude, longitude and bearing at a distance.

Read by ``runner`` (every tick) and the planner tests. Imports only ``runs.domain``.
"""

from __future__ import annotations

import math
import random
from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from runs.domain.geometry import TripGeometry

# When the schedule gives no time between two stops (times rounded to the minute).
CRUISE_SPEED_MPS = 9.0
# A leg is never driven faster than this on average, whatever the schedule says.
MAX_LEG_SPEED_MPS = 20.0
# Doors open at least this long at an intermediate stop.
MIN_DWELL_S = 8.0
# Parked at the first stop before departure (the run is Tracking, not yet In Progress).
LAYOVER_S = 30.0
# Doors open at the terminal before the vehicle counts as done with the trip.
TERMINAL_DWELL_S = 45.0
# Multipliers drawn per leg / per stop: traffic and boarding vary, the schedule does not.
TRAVEL_JITTER = (0.9, 1.15)
DWELL_JITTER = (0.6, 1.5)


class MotionPhase(StrEnum):
    LAYOVER = "layover"  # at the first stop, before departure
    DRIVING = "driving"
    DWELLING = "dwelling"  # at an intermediate stop
    ARRIVED = "arrived"  # at the terminal (dwelling, then parked)


@dataclass(frozen=True, slots=True)
class StopTiming:
    """One stop of the simulated trip: where it lies and when the vehicle is there."""

    stop_sequence: int
    stop_id: str
    distance_m: float
    arrive_s: float  # simulated seconds after the vehicle took the trip
    depart_s: float


@dataclass(frozen=True, slots=True)
class TripMotion:
    trip_id: str
    geometry: TripGeometry
    stops: tuple[StopTiming, ...]

    @property
    def departure_s(self) -> float:
        return self.stops[0].depart_s

    @property
    def arrival_s(self) -> float:
        """When the vehicle reaches its terminal stop."""
        return self.stops[-1].arrive_s

    @property
    def end_s(self) -> float:
        """When the terminal dwell is over: the vehicle may take its next trip."""
        return self.stops[-1].depart_s


@dataclass(frozen=True, slots=True)
class MotionSample:
    phase: MotionPhase
    distance_m: float  # along the trip's shape
    speed_mps: float  # simulated speed (the clock scales what is reported)
    stop_index: int  # the stop the vehicle is at, or the last one it left


@dataclass(frozen=True, slots=True)
class ShapePoint:
    latitude: float
    longitude: float
    bearing_deg: float  # direction of the shape here, clockwise from north, 0..360


def trip_motion(
    trip_id: str,
    geometry: TripGeometry,
    scheduled: Sequence[tuple[float, float]],
    *,
    seed: str,
    layover_s: float = LAYOVER_S,
    terminal_dwell_s: float = TERMINAL_DWELL_S,
) -> TripMotion:
    """The stop timings of a trip; ``scheduled`` is (arrival_s, departure_s) per stop of
    the geometry, in order (GTFS seconds; only differences count)."""
    distances = geometry.stop_distances_m
    if len(scheduled) != len(distances) or len(distances) < 2:
        raise ValueError(
            f"trip {trip_id}: {len(scheduled)} stop times for {len(distances)} stops "
            "(need the same number, at least two)"
        )
    rng = random.Random(f"{seed}|{trip_id}")
    stops = [
        StopTiming(geometry.stop_sequences[0], geometry.stop_ids[0], distances[0], 0.0, layover_s)
    ]
    for i in range(1, len(distances)):
        leg_m = distances[i] - distances[i - 1]
        travel_s = _travel_s(leg_m, scheduled[i][0] - scheduled[i - 1][1])
        arrive_s = stops[-1].depart_s + travel_s * rng.uniform(*TRAVEL_JITTER)
        if i == len(distances) - 1:
            dwell_s = terminal_dwell_s
        else:
            dwell_s = max(scheduled[i][1] - scheduled[i][0], MIN_DWELL_S) * rng.uniform(
                *DWELL_JITTER
            )
        stops.append(
            StopTiming(
                geometry.stop_sequences[i],
                geometry.stop_ids[i],
                distances[i],
                arrive_s,
                arrive_s + dwell_s,
            )
        )
    return TripMotion(trip_id, geometry, tuple(stops))


def _travel_s(leg_m: float, scheduled_s: float) -> float:
    travel_s = scheduled_s if scheduled_s > 0 else leg_m / CRUISE_SPEED_MPS
    return max(travel_s, leg_m / MAX_LEG_SPEED_MPS, 1.0)


def motion_sample(motion: TripMotion, t: float) -> MotionSample:
    """Where the vehicle is ``t`` simulated seconds after it took the trip."""
    stops = motion.stops
    if t < stops[0].depart_s:
        return MotionSample(MotionPhase.LAYOVER, stops[0].distance_m, 0.0, 0)
    last = len(stops) - 1
    # The last stop reached by t (index ≥ 0: the first stop is "reached" at 0).
    index = bisect_right(stops, t, key=lambda stop: stop.arrive_s) - 1
    stop = stops[index]
    if index == last:
        return MotionSample(MotionPhase.ARRIVED, stop.distance_m, 0.0, last)
    if t < stop.depart_s:
        return MotionSample(MotionPhase.DWELLING, stop.distance_m, 0.0, index)
    following = stops[index + 1]
    duration = following.arrive_s - stop.depart_s
    leg_m = following.distance_m - stop.distance_m
    u = (t - stop.depart_s) / duration
    distance = stop.distance_m + leg_m * (1.0 - math.cos(math.pi * u)) / 2.0
    speed = leg_m * math.pi * math.sin(math.pi * u) / (2.0 * duration)
    return MotionSample(MotionPhase.DRIVING, distance, speed, index)


def shape_point(geometry: TripGeometry, distance_m: float) -> ShapePoint:
    """Latitude, longitude and the shape's bearing ``distance_m`` along the trip."""
    line = geometry.polyline
    x, y = line.point_at(distance_m)
    latitude, longitude = geometry.projection.to_latlon(x, y)
    segment = min(max(bisect_right(line.cumulative, distance_m) - 1, 0), len(line.xs) - 2)
    dx = line.xs[segment + 1] - line.xs[segment]
    dy = line.ys[segment + 1] - line.ys[segment]
    return ShapePoint(latitude, longitude, math.degrees(math.atan2(dx, dy)) % 360.0)
