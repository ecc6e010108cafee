"""A recorded service day, planned: which vehicle ran which trip, and when it was where. Pure.

``day_plan`` takes the day's trip instances (``TripToRun``: the schedule in POSIX
seconds, the trip's geometry) and gives a ``PlannedRun`` per trip a vehicle ran:

- **Vehicles.** A block's trips go to one vehicle in turn (trips.txt ``block_id``); a
  trip without a block takes the free vehicle standing at its first stop, else the one
  free the longest. With a fleet cap, a trip no vehicle is free for is not run (a
  missed trip, as on a real day short of buses); without one the fleet grows as needed.
- **Delays.** The departure from the first stop is late by a draw from a skewed
  distribution (most trips a little late, a few early, a few very late), and never
  before the vehicle is back from its previous trip plus a turnaround: lateness
  propagates along a block. Travel times are the schedule's scaled by the hour's traffic
  (peaks slower, evenings faster) and a per-trip factor; the simulator's motion planner
  (``realtime_engine.simulation.motion.trip_motion``) adds its per-leg and per-dwell
  jitter. Most drivers ahead of schedule hold at a timepoint until its departure time
  (not on headway-based trips, which have no timetable); a few run hot. On a frequency-based route a
  few trips leave most of a headway late and dwell longer (more riders waiting), so
  the next one catches up: the bunching a headway report should find.
- **Gaps.** A few runs lose their signal for a few minutes; their stops in the gap, and
  a few others, are recorded as interpolated rather than observed.

Every draw comes from a ``random.Random`` seeded from the seed and the trip instance,
so a plan is a function of its inputs. Imports ``runs.domain`` and the simulator's
pure motion module only.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import random
from collections.abc import Sequence
from dataclasses import dataclass

from realtime_engine.simulation.motion import StopTiming, TripMotion, trip_motion
from runs.domain.geometry import TripGeometry

# A vehicle reaches a trip's first stop at most this long before its departure.
PULL_IN_S = 300.0
# At least this between arriving at a terminal and leaving on the next trip.
TURNAROUND_S = 120.0
# Traffic by local hour of the scheduled departure: travel time multiplier.
TRAFFIC_BY_HOUR = {
    **dict.fromkeys(range(0, 6), 0.86),
    **dict.fromkeys(range(6, 7), 1.0),
    **dict.fromkeys(range(7, 10), 1.14),
    **dict.fromkeys(range(10, 15), 1.04),
    **dict.fromkeys(range(15, 19), 1.17),
    **dict.fromkeys(range(19, 22), 0.93),
    **dict.fromkeys(range(22, 24), 0.88),
}
TRIP_TRAFFIC_SIGMA = 0.05
TRIP_TRAFFIC_RANGE = (0.85, 1.4)
# Bunching on frequency-based routes: the share of trips that leave late by most of a
# headway, and how late (as a share of the headway).
BUNCHING_SHARE = 0.12
BUNCHING_DELAY = (0.45, 0.8)
# A frequent bus late by one headway picks up about twice the riders: dwell x (1 + this).
DWELL_PER_HEADWAY_LATE = 1.0
SIGNAL_GAP_SHARE = 0.04
SIGNAL_GAP_S = (120.0, 420.0)
INTERPOLATED_SHARE = 0.03
# Drivers who do not wait at timepoints when ahead of time (the early departures).
RUNS_HOT_SHARE = 0.15


@dataclass(frozen=True, slots=True)
class TripToRun:
    """One trip instance of the day: its schedule in POSIX seconds, per geometry stop."""

    trip_id: str
    route_id: str
    direction_id: int | None
    shape_id: str
    service_date: dt.date
    start_time: str  # "HH:MM:SS" of this instance (a frequency-based trip has many)
    block_id: str  # "" without a block
    local_hour: int  # of the scheduled departure, for the traffic of that hour
    headway_s: float | None  # a frequency-based instance's scheduled headway
    headway_based: bool  # frequencies.txt exact_times=0: no timetable to hold to
    geometry: TripGeometry
    scheduled: tuple[tuple[float, float], ...]  # (arrival, departure) per geometry stop
    timepoints: tuple[bool, ...]

    @property
    def key(self) -> tuple[str, dt.date, str]:
        return (self.trip_id, self.service_date, self.start_time)

    @property
    def departure(self) -> float:
        return self.scheduled[0][1]


@dataclass(frozen=True, slots=True)
class PlannedRun:
    """A trip a vehicle ran: its motion counted from ``taken_at`` (when it reached the
    first stop and its run began), and what the recording missed."""

    trip: TripToRun
    vehicle_number: int  # 1, 2, …: the fleet's vehicles in order of first use
    taken_at: float  # POSIX
    motion: TripMotion
    odometer_start_m: float
    signal_gap: tuple[float, float] | None  # POSIX [start, end) without positions
    interpolated: frozenset[int]  # indexes of stops recorded as interpolated

    def stop_times(self) -> list[tuple[float, float]]:
        """(arrival, departure) in POSIX seconds at each stop of the trip."""
        return [(self.taken_at + s.arrive_s, self.taken_at + s.depart_s) for s in self.motion.stops]

    @property
    def ended_at(self) -> float:
        """Arrival at the terminal stop: when the run was completed."""
        return self.taken_at + self.motion.arrival_s


@dataclass
class _Vehicle:
    number: int
    free_at: float
    at_stop: str
    odometer_m: float
    block: str = ""  # the block it is running, "" when free for any trip


def day_plan(
    trips: Sequence[TripToRun], *, seed: str, until: float, vehicles: int | None = None
) -> list[PlannedRun]:
    """The runs of the day: each trip a vehicle was free for (``vehicles`` caps the fleet)
    whose run had ended by ``until`` (POSIX), in order of departure."""
    ordered = sorted(trips, key=lambda t: (t.departure, t.trip_id, t.start_time))
    block_left: dict[str, int] = {}
    for trip in ordered:
        if trip.block_id:
            block_left[trip.block_id] = block_left.get(trip.block_id, 0) + 1
    fleet: list[_Vehicle] = []
    by_block: dict[str, _Vehicle] = {}
    runs = []
    for trip in ordered:
        rng = random.Random(f"{seed}|{trip.trip_id}|{trip.service_date}|{trip.start_time}")
        vehicle = by_block.get(trip.block_id) if trip.block_id else None
        if vehicle is None:
            vehicle = _free_vehicle(fleet, trip)
        if vehicle is None and (vehicles is None or len(fleet) < vehicles):
            vehicle = _Vehicle(
                len(fleet) + 1,
                free_at=float("-inf"),
                at_stop=trip.geometry.stop_ids[0],
                odometer_m=20_000_000.0 + 613_000.0 * len(fleet),
            )
            fleet.append(vehicle)
        if vehicle is None:
            continue  # no bus for it: a missed trip
        if trip.block_id:
            vehicle.block = trip.block_id
            by_block[trip.block_id] = vehicle
            block_left[trip.block_id] -= 1
            if block_left[trip.block_id] == 0:
                del by_block[trip.block_id]
        run = _run(trip, vehicle, rng, seed=seed)
        if run.taken_at + run.motion.end_s > until:
            continue  # still under way (or not yet begun) at ``until``
        if trip.block_id and trip.block_id not in by_block:
            vehicle.block = ""
        vehicle.free_at = run.taken_at + run.motion.end_s + TURNAROUND_S
        vehicle.at_stop = trip.geometry.stop_ids[-1]
        stops = run.motion.stops
        vehicle.odometer_m += stops[-1].distance_m - stops[0].distance_m
        runs.append(run)
    return runs


def _free_vehicle(fleet: list[_Vehicle], trip: TripToRun) -> _Vehicle | None:
    # Back in time to make the departure, give or take a minute or two of lateness.
    free = [v for v in fleet if not v.block and v.free_at <= trip.departure + TURNAROUND_S]
    origin = trip.geometry.stop_ids[0]
    return min(free, key=lambda v: (v.at_stop != origin, v.free_at, v.number), default=None)


def _start_delay(rng: random.Random, trip: TripToRun) -> float:
    if trip.headway_s and rng.random() < BUNCHING_SHARE:
        return trip.headway_s * rng.uniform(*BUNCHING_DELAY)
    draw = rng.random()
    if draw < 0.08:
        return -rng.uniform(20.0, 180.0)
    if draw < 0.75:
        return max(rng.gauss(40.0, 40.0), 0.0)
    if draw < 0.95:
        return rng.expovariate(1 / 180.0)
    return rng.uniform(300.0, 900.0)


def _run(trip: TripToRun, vehicle: _Vehicle, rng: random.Random, *, seed: str) -> PlannedRun:
    ready = vehicle.free_at
    departure = max(trip.departure + _start_delay(rng, trip), ready)
    reached_origin = min(max(ready, trip.departure - PULL_IN_S), departure - 30.0)
    layover = departure - reached_origin
    traffic = TRAFFIC_BY_HOUR[trip.local_hour % 24] * rng.gauss(1.0, TRIP_TRAFFIC_SIGMA)
    traffic = min(max(traffic, TRIP_TRAFFIC_RANGE[0]), TRIP_TRAFFIC_RANGE[1])
    late_share = (departure - trip.departure) / trip.headway_s if trip.headway_s else 0.0
    dwell_factor = 1.0 + DWELL_PER_HEADWAY_LATE * min(max(late_share, 0.0), 1.0)
    motion = trip_motion(
        trip.trip_id,
        trip.geometry,
        _scaled(trip.scheduled, traffic=traffic, dwell=dwell_factor),
        seed=f"{seed}|{trip.trip_id}|{trip.service_date}|{trip.start_time}",
        layover_s=layover,
    )
    if not trip.headway_based and rng.random() >= RUNS_HOT_SHARE:
        motion = _held_at_timepoints(motion, trip, taken_at=reached_origin)
    gap = None
    if rng.random() < SIGNAL_GAP_SHARE:
        length = rng.uniform(*SIGNAL_GAP_S)
        start = reached_origin + rng.uniform(motion.departure_s, max(motion.arrival_s - length, 0))
        gap = (start, start + length)
    last = len(motion.stops) - 1
    interpolated = frozenset(
        i
        for i, stop in enumerate(motion.stops)
        if 0 < i < last
        and (
            rng.random() < INTERPOLATED_SHARE
            or (gap is not None and gap[0] <= reached_origin + stop.arrive_s < gap[1])
        )
    )
    return PlannedRun(
        trip=trip,
        vehicle_number=vehicle.number,
        taken_at=reached_origin,
        motion=motion,
        odometer_start_m=vehicle.odometer_m,
        signal_gap=gap,
        interpolated=interpolated,
    )


def _scaled(
    scheduled: Sequence[tuple[float, float]], *, traffic: float, dwell: float
) -> list[tuple[float, float]]:
    """The schedule with each leg's travel time x ``traffic`` and each dwell x ``dwell``
    (``trip_motion`` reads only the differences)."""
    out = [(0.0, 0.0)]
    for i in range(1, len(scheduled)):
        arrive = out[-1][1] + (scheduled[i][0] - scheduled[i - 1][1]) * traffic
        out.append((arrive, arrive + (scheduled[i][1] - scheduled[i][0]) * dwell))
    return out


def _held_at_timepoints(motion: TripMotion, trip: TripToRun, *, taken_at: float) -> TripMotion:
    """The motion with the vehicle waiting at each intermediate timepoint it reached early,
    until the scheduled departure; everything after moves later by the wait."""
    shift = 0.0
    stops: list[StopTiming] = []
    last = len(motion.stops) - 1
    for i, stop in enumerate(motion.stops):
        arrive, depart = stop.arrive_s + shift, stop.depart_s + shift
        if 0 < i < last and trip.timepoints[i]:
            hold = trip.scheduled[i][1] - (taken_at + depart)
            if hold > 0:
                depart += hold
                shift += hold
        stops.append(dataclasses.replace(stop, arrive_s=arrive, depart_s=depart))
    return dataclasses.replace(motion, stops=tuple(stops))
