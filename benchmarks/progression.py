"""Offline evaluation of stop progression, predictions and feed building on the WMATA trace.

``make bench-progression`` (``python -m benchmarks.progression``). Calls the same
pure functions the pipeline calls (``runs.domain.progression``,
``schedule_engine.predictions``, ``schedule_engine.feeds.builders``) and prints:
(a) agreement of the matched stop_sequence with the agency's own
``current_stop_sequence`` at added Gaussian noise 0/10/25 m (layover pings apart),
(b) arrival-prediction MAE and bias by horizon next to three baselines,
(c) matcher cost per position and feed build time for 5,000 synthetic runs next to
a ``json_format.ParseDict`` build of the same content.
"""

from __future__ import annotations

import itertools
import math
import random
import statistics
import time
from collections import defaultdict
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from benchmarks.wmata_schedule import Schedule, read_schedule
from realtime_engine.replay.trace import TracePing, read_trace
from runs.domain.geometry import TripGeometry
from runs.domain.progression.config import WMATA, ProgressionConfig
from runs.domain.progression.matching import Fix, MatchStep, match_position
from runs.domain.progression.state import MatchState
from runs.domain.progression.status import Phase
from runs.domain.telemetry.vehicle_stop_status import StopStatusCode
from schedule_engine.feeds.snapshots import (
    OccupancySnapshot,
    OccupancyStatusCode,
    PositionSnapshot,
    StopStatusSnapshot,
    StopTimeUpdateSnapshot,
    TripEntity,
    TripSnapshot,
    VehicleEntity,
    VehicleSnapshot,
)
from schedule_engine.predictions.inputs import schedule_deviation_s
from schedule_engine.predictions.predictor import DEFAULT as DEFAULT_PREDICTION
from schedule_engine.predictions.predictor import (
    ObservedStop,
    PredictionConfig,
    RunScheduledStop,
    StopPrediction,
    predict_stop_times,
)

FIXTURES = Path(__file__).resolve().parent.parent.parent / "shared" / "fixtures" / "wmata"
SERVICE_DAY = date(2026, 2, 16)
NOISE_LEVELS_M = (0.0, 10.0, 25.0)
METRES_PER_DEGREE = 111_195.0


@dataclass(frozen=True, slots=True)
class Run:
    """One vehicle on one trip: the pings of the trace for that pair, in time order."""

    vehicle_id: str
    trip_id: str
    pings: tuple[TracePing, ...]


@dataclass(frozen=True, slots=True)
class MatchedPing:
    ping: TracePing
    step: MatchStep


def runs_of(pings: list[TracePing]) -> list[Run]:
    """The runs of ``pings``, by vehicle then by the time each run's first ping came."""
    grouped: dict[tuple[str, str], list[TracePing]] = defaultdict(list)
    for ping in sorted(pings, key=lambda p: (p.vehicle_id, p.timestamp)):
        grouped[(ping.vehicle_id, ping.trip_id)].append(ping)
    return [
        Run(vehicle, trip, tuple(sorted(group, key=lambda p: p.timestamp)))
        for (vehicle, trip), group in grouped.items()
    ]


def scheduled_start(schedule: Schedule, trip_id: str) -> float:
    first = schedule.trips[trip_id].stops[0]
    return schedule.service_day_start(SERVICE_DAY) + first.departure_s


def noisy(ping: TracePing, sigma_m: float, rng: random.Random) -> Fix:
    lat, lon = ping.latitude, ping.longitude
    if sigma_m:
        lat += rng.gauss(0.0, sigma_m) / METRES_PER_DEGREE
        lon += rng.gauss(0.0, sigma_m) / (METRES_PER_DEGREE * math.cos(math.radians(lat)))
    return Fix(ping.timestamp, lat, lon, ping.speed, ping.bearing)


def match_run(
    geometry: TripGeometry, run: Run, start: float, fixes: list[Fix], config: ProgressionConfig
) -> list[MatchedPing]:
    state = MatchState(scheduled_start=start)
    matched = []
    for ping, fix in zip(run.pings, fixes, strict=True):
        step = match_position(geometry, state, fix, config)
        state = step.state
        matched.append(MatchedPing(ping, step))
    return matched


def evaluate_matching(
    schedule: Schedule,
    runs: list[Run],
    geometries: dict[str, TripGeometry],
    config: ProgressionConfig,
) -> None:
    print(
        "(a) matched stop_sequence vs the agency's current_stop_sequence "
        f"(zone ±{config.stopped_radius_m:.0f} m)"
    )
    print(
        f"{'noise':>7} {'pings':>7} {'exact':>8} {'±1 stop':>8} | {'on-route':>8} "
        f"{'exact':>8} {'±1 stop':>8} | {'layover':>8} {'exact':>8}"
    )
    for sigma in NOISE_LEVELS_M:
        rng = random.Random(16)
        counts = {phase: [0, 0, 0] for phase in Phase}
        for run in runs:
            geometry = geometries[run.trip_id]
            fixes = [noisy(p, sigma, rng) for p in run.pings]
            for m in match_run(
                geometry, run, scheduled_start(schedule, run.trip_id), fixes, config
            ):
                tally = counts[m.step.progress.phase]
                ours = m.step.progress.stop_index
                theirs = _index_of(geometry, m.ping.current_stop_sequence)
                tally[0] += 1
                tally[1] += ours == theirs
                tally[2] += theirs is not None and abs(ours - theirs) <= 1
        total = [sum(c[i] for c in counts.values()) for i in range(3)]
        on, pre = counts[Phase.ON_ROUTE], counts[Phase.PRE_TRIP]
        print(
            f"{sigma:>5.0f} m {total[0]:>7} {_pct(total[1], total[0])} "
            f"{_pct(total[2], total[0])} | {on[0]:>8} {_pct(on[1], on[0])} "
            f"{_pct(on[2], on[0])} | {pre[0]:>8} {_pct(pre[1], pre[0])}"
        )


OCCUPANCY_BY_CODE = tuple(OccupancyStatusCode)  # the GTFS-RT enum order, code → name


def scheduled_stops(schedule: Schedule, trip_id: str) -> list[RunScheduledStop]:
    origin = schedule.service_day_start(SERVICE_DAY)
    return [
        RunScheduledStop(
            st.stop_sequence,
            st.stop_id,
            origin + st.arrival_s,
            origin + st.departure_s,
            st.timepoint,
        )
        for st in schedule.trips[trip_id].stops
    ]


def feed_entities_at(
    schedule: Schedule, runs: list[Run], *, at: int, shift_s: int = 0
) -> tuple[list[VehicleEntity], list[TripEntity]]:
    """Feed snapshots as the pipeline would hold them at ``at``: matcher, predictor, snapshots.

    One entity per vehicle (its latest run) and one per trip (the vehicle that
    last reported it: a trip can change vehicle mid-route) whose run is still its
    vehicle's current one. Times shifted by ``shift_s``.
    """
    latest_by_vehicle: dict[str, tuple[int, VehicleEntity]] = {}
    latest_by_trip: dict[str, tuple[int, TripEntity]] = {}
    for run in runs:
        pings = [p for p in run.pings if p.timestamp <= at]
        if not pings:
            continue
        geometry = schedule.geometry(run.trip_id)
        fixes = [noisy(p, 0.0, random.Random(0)) for p in pings]
        matched = match_run(geometry, run, scheduled_start(schedule, run.trip_id), fixes, WMATA)
        last, progress = pings[-1], matched[-1].step.progress
        trip = schedule.trips[run.trip_id]
        trip_snapshot = TripSnapshot(
            run.trip_id,
            trip.route_id,
            trip.direction_id,
            last.start_date.strftime("%Y%m%d"),
            last.start_time,
        )
        vehicle = VehicleSnapshot(run.vehicle_id, last.label)
        on_route = progress.phase is Phase.ON_ROUTE
        entity = VehicleEntity(
            vehicle,
            PositionSnapshot(
                last.latitude, last.longitude, last.timestamp + shift_s, last.bearing, last.speed
            ),
            f"{run.vehicle_id}:{run.trip_id}",
            trip_snapshot,
            StopStatusSnapshot(
                progress.stop_sequence, progress.stop_id, StopStatusCode(progress.status.value)
            )
            if on_route
            else None,
            OccupancySnapshot(
                OccupancyStatusCode.NO_DATA_AVAILABLE
                if last.occupancy_status is None
                else OCCUPANCY_BY_CODE[last.occupancy_status]
            ),
        )
        if latest_by_vehicle.get(run.vehicle_id, (-1,))[0] < last.timestamp:
            latest_by_vehicle[run.vehicle_id] = (last.timestamp, entity)
        predictions = predict_run(schedule, run.trip_id, matched, now=last.timestamp)
        updates = tuple(
            StopTimeUpdateSnapshot(
                p.stop_sequence,
                p.stop_id,
                p.arrival + shift_s,
                p.departure + shift_s,
                p.uncertainty_s,
            )
            for p in predictions
        )
        trip_entity = TripEntity(
            entity.run_id, trip_snapshot, last.timestamp + shift_s, vehicle, updates
        )
        if latest_by_trip.get(run.trip_id, (-1,))[0] < last.timestamp:
            latest_by_trip[run.trip_id] = (last.timestamp, trip_entity)
    vehicles = [entity for _, entity in latest_by_vehicle.values()]
    # A run that is no longer its vehicle's current one is over: not in TripUpdates.
    current = {entity.run_id for entity in vehicles}
    trips = [entity for _, entity in latest_by_trip.values() if entity.run_id in current]
    return vehicles, trips


def predict_run(
    schedule: Schedule, trip_id: str, matched: list[MatchedPing], *, now: float
) -> tuple[StopPrediction, ...]:
    """The predictor's view of a run after its last matched ping (no segment history)."""
    stops = scheduled_stops(schedule, trip_id)
    observed = {
        e.stop_sequence: ObservedStop(e.arrived_at, e.departed_at)
        for m in matched
        for e in m.step.events
    }
    progress = matched[-1].step.progress
    on_route = progress.phase is Phase.ON_ROUTE
    delay = schedule_deviation_s(
        stops,
        schedule.geometry(trip_id).stop_distances_m,
        distance_m=progress.distance_m,
        at=now,
        departed=on_route,
    )
    return predict_stop_times(
        stops,
        next_index=progress.stop_index if on_route else 0,
        now=now,
        delay_s=delay,
        observed=observed,
    )


HORIZONS_MIN = ((0, 5), (5, 10), (10, 20), (20, 30))
RECENT_BUSES = 3
HISTORY_WINDOW_S = 3600  # segment history: traversals of the last hour...
HISTORY_SAMPLES = 5  # ...the most recent of them


def crossing_times(matched: list[MatchedPing], geometry: TripGeometry) -> dict[int, float]:
    """When the (noise-free) matched vehicle reached each stop's distance: the observed arrival.

    Interpolated between the two on-route pings around the stop; stops passed
    before the first on-route ping of the run have none.
    """
    times: dict[int, float] = {}
    previous: MatchedPing | None = None
    for m in matched:
        if m.step.progress.phase is not Phase.ON_ROUTE or m.step.progress.off_route:
            previous = None if m.step.progress.phase is not Phase.ON_ROUTE else previous
            continue
        if previous is not None:
            d0, d1 = previous.step.progress.distance_m, m.step.progress.distance_m
            t0, t1 = previous.ping.timestamp, m.ping.timestamp
            for index, stop_m in enumerate(geometry.stop_distances_m):
                if index in times or not (d0 < stop_m <= d1):
                    continue
                times[index] = t0 + (t1 - t0) * (stop_m - d0) / (d1 - d0)
        previous = m
    return times


@dataclass(frozen=True, slots=True)
class Traversal:
    """One run's observed arrivals, by stop id, for history and the recent-buses baseline."""

    route_direction: tuple[str, int]
    arrivals: dict[str, float]


@dataclass(frozen=True, slots=True)
class TraceArrivals:
    """Every run's observed arrivals (noise-free matching), the truth and the history source."""

    runs: list[tuple[Run, list[MatchedPing], dict[int, float]]]
    traversals: list[Traversal]
    # (from stop, to stop) → [(arrival at the to-stop, travel time)], in time order.
    segments: dict[tuple[str, str], list[tuple[float, float]]]

    def history_at(self, stops: list[RunScheduledStop], from_index: int, now: float) -> dict:
        """What the stop-event table would give the producer: recent traversals per segment."""
        history = {}
        for j in range(from_index, len(stops) - 1):
            pair = (stops[j].stop_id, stops[j + 1].stop_id)
            recent = [
                t for at, t in self.segments.get(pair, ()) if now - HISTORY_WINDOW_S <= at <= now
            ]
            if recent:
                history[pair] = recent[-HISTORY_SAMPLES:]
        return history

    def recent_buses_runtime(
        self, route_direction: tuple[str, int], origin: str, target: str, now: float
    ) -> float | None:
        """Median running time origin → target of the last buses of the route and direction."""
        done = sorted(
            (t.arrivals[target], t.arrivals[target] - t.arrivals[origin])
            for t in self.traversals
            if t.route_direction == route_direction
            and origin in t.arrivals
            and target in t.arrivals
            and t.arrivals[target] <= now
        )[-RECENT_BUSES:]
        return statistics.median(runtime for _, runtime in done) if done else None


def trace_arrivals(
    schedule: Schedule, runs: list[Run], geometries: dict[str, TripGeometry]
) -> TraceArrivals:
    matched_runs, traversals = [], []
    segments: dict[tuple[str, str], list[tuple[float, float]]] = defaultdict(list)
    for run in runs:
        geometry = geometries[run.trip_id]
        fixes = [noisy(p, 0.0, None) for p in run.pings]
        matched = match_run(geometry, run, scheduled_start(schedule, run.trip_id), fixes, WMATA)
        truth = crossing_times(matched, geometry)
        trip = schedule.trips[run.trip_id]
        matched_runs.append((run, matched, truth))
        arrivals = {geometry.stop_ids[i]: t for i, t in truth.items()}
        traversals.append(Traversal((trip.route_id, trip.direction_id), arrivals))
        ordered = sorted(arrivals.items(), key=lambda item: item[1])
        for (a, ta), (b, tb) in itertools.pairwise(ordered):
            segments[(a, b)].append((tb, tb - ta))
    for samples in segments.values():
        samples.sort()
    return TraceArrivals(matched_runs, traversals, dict(segments))


PREDICTORS = ("schedule", "constant delay", "recent buses", "databus")


def evaluate_predictions(
    schedule: Schedule,
    runs: list[Run],
    geometries: dict[str, TripGeometry],
    config: PredictionConfig = DEFAULT_PREDICTION,
) -> None:
    """Predict at every on-route ping; score against arrivals observed later (< 30 min)."""
    trace = trace_arrivals(schedule, runs, geometries)
    errors: dict[str, dict[int, list[float]]] = {name: defaultdict(list) for name in PREDICTORS}
    for run, matched, truth in trace.runs:
        geometry = geometries[run.trip_id]
        stops = scheduled_stops(schedule, run.trip_id)
        trip = schedule.trips[run.trip_id]
        for position, m in enumerate(matched):
            progress = m.step.progress
            if progress.phase is not Phase.ON_ROUTE or progress.off_route:
                continue
            now = m.ping.timestamp
            upcoming = [(i, t) for i, t in truth.items() if now < t < now + 1800]
            if not upcoming:
                continue
            delay = schedule_deviation_s(
                stops,
                geometry.stop_distances_m,
                distance_m=progress.distance_m,
                at=now,
                departed=True,
            )
            observed = {
                e.stop_sequence: ObservedStop(e.arrived_at, e.departed_at)
                for earlier in matched[: position + 1]
                for e in earlier.step.events
            }
            predictions = predict_stop_times(
                stops,
                next_index=progress.stop_index,
                now=now,
                delay_s=delay,
                observed=observed,
                history=trace.history_at(stops, progress.stop_index, now),
                config=config,
            )
            ours = {p.stop_sequence: p.arrival for p in predictions}
            passed = [(i, t) for i, t in truth.items() if t <= now]
            last_passed = max(passed, key=lambda item: item[1]) if passed else None
            for index, actual in upcoming:
                horizon = (actual - now) / 60.0
                bucket = next(i for i, (lo, hi) in enumerate(HORIZONS_MIN) if lo <= horizon < hi)
                scheduled = stops[index].arrival
                constant = max(scheduled + delay, now)
                recent = constant  # without a recent bus the baseline falls back to the delay
                if last_passed is not None:
                    runtime = trace.recent_buses_runtime(
                        (trip.route_id, trip.direction_id),
                        geometry.stop_ids[last_passed[0]],
                        geometry.stop_ids[index],
                        now,
                    )
                    if runtime is not None:
                        recent = max(last_passed[1] + runtime, now)
                guesses = (scheduled, constant, recent, ours.get(stops[index].stop_sequence))
                for name, guess in zip(PREDICTORS, guesses, strict=True):
                    if guess is not None:
                        errors[name][bucket].append(guess - actual)
    print("(b) arrival prediction vs arrivals observed later in the trace: MAE / bias (s), n")
    print(f"{'':>16}" + "".join(f"{f'{lo}-{hi} min':>22}" for lo, hi in HORIZONS_MIN))
    for name, buckets in errors.items():
        cells = []
        for i in range(len(HORIZONS_MIN)):
            values = buckets[i]
            mae = statistics.fmean(abs(v) for v in values) if values else math.nan
            bias = statistics.fmean(values) if values else math.nan
            cells.append(f"{f'{mae:.0f} / {bias:+.0f} ({len(values)})':>22}")
        print(f"{name:>16}" + "".join(cells))


def _index_of(geometry: TripGeometry, stop_sequence: int) -> int | None:
    try:
        return geometry.stop_sequences.index(stop_sequence)
    except ValueError:
        return None


def _pct(part: int, whole: int) -> str:
    return f"{100.0 * part / whole:>7.2f}%" if whole else f"{'-':>8}"


def time_matcher(
    schedule: Schedule, runs: list[Run], geometries: dict[str, TripGeometry], repeats: int = 7
) -> float:
    """Microseconds per position over the whole trace (fixes built beforehand).

    Each run is timed ``repeats`` times and its fastest pass kept: the machines
    are shared and noisy, and the minimum is the cost of the code, not of the neighbours.
    """
    total, count = 0.0, 0
    for run in runs:
        geometry, start = geometries[run.trip_id], scheduled_start(schedule, run.trip_id)
        fixes = [noisy(p, 0.0, None) for p in run.pings]
        best = math.inf
        for _ in range(repeats):
            began = time.perf_counter()
            state = MatchState(scheduled_start=start)
            for fix in fixes:
                state = match_position(geometry, state, fix, WMATA).state
            best = min(best, time.perf_counter() - began)
        total += best
        count += len(fixes)
    return total / count * 1e6


def synthetic_entities(count: int) -> tuple[list[VehicleEntity], list[TripEntity]]:
    vehicles, trips = [], []
    for i in range(count):
        trip = TripSnapshot(f"trip-{i}", "D96", i % 2, "20260216", "10:30:00")
        vehicle = VehicleSnapshot(f"v{i}", f"{i}")
        vehicles.append(
            VehicleEntity(
                vehicle,
                PositionSnapshot(38.9 + i * 1e-5, -77.0, 1_771_257_600, 90.0, 8.0),
                f"run-{i}",
                trip,
                StopStatusSnapshot(10, "7752", StopStatusCode.IN_TRANSIT_TO),
                OccupancySnapshot(OccupancyStatusCode.MANY_SEATS_AVAILABLE, 15),
            )
        )
        updates = tuple(
            StopTimeUpdateSnapshot(
                2 + k, f"S{k}", 1_771_257_600 + 60 * k, 1_771_257_600 + 60 * k + 10, 30 + 5 * k
            )
            for k in range(20)
        )
        trips.append(TripEntity(f"run-{i}", trip, 1_771_257_600, vehicle, updates))
    return vehicles, trips


def parse_dict_build(vehicles: list[VehicleEntity], trips: list[TripEntity], now: int) -> bytes:
    """The same content through a dict and ``json_format.ParseDict`` (the slow way)."""
    from google.protobuf import json_format
    from google.transit import gtfs_realtime_pb2 as rt

    header = {"gtfsRealtimeVersion": "2.0", "incrementality": "FULL_DATASET", "timestamp": str(now)}

    def trip_dict(t: TripSnapshot) -> dict:
        return {
            "tripId": t.trip_id,
            "routeId": t.route_id,
            "directionId": t.direction_id,
            "startDate": t.start_date,
            "startTime": t.start_time,
        }

    vp = {
        "header": header,
        "entity": [
            {
                "id": v.vehicle.vehicle_id,
                "vehicle": {
                    "trip": trip_dict(v.trip),
                    "vehicle": {"id": v.vehicle.vehicle_id, "label": v.vehicle.label},
                    "position": {
                        "latitude": v.position.latitude,
                        "longitude": v.position.longitude,
                        "bearing": v.position.bearing,
                        "speed": v.position.speed,
                    },
                    "timestamp": str(v.position.timestamp),
                    "currentStopSequence": v.stop_status.current_stop_sequence,
                    "stopId": v.stop_status.stop_id,
                    "currentStatus": v.stop_status.status.value,
                    "occupancyStatus": v.occupancy.status.value,
                    "occupancyPercentage": v.occupancy.percentage,
                },
            }
            for v in vehicles
        ],
    }
    tu = {
        "header": header,
        "entity": [
            {
                "id": t.run_id,
                "tripUpdate": {
                    "trip": trip_dict(t.trip),
                    "vehicle": {"id": t.vehicle.vehicle_id, "label": t.vehicle.label},
                    "timestamp": str(t.timestamp),
                    "stopTimeUpdate": [
                        {
                            "stopSequence": u.stop_sequence,
                            "stopId": u.stop_id,
                            "arrival": {
                                "time": str(u.arrival_time),
                                "uncertainty": u.uncertainty_s,
                            },
                            "departure": {
                                "time": str(u.departure_time),
                                "uncertainty": u.uncertainty_s,
                            },
                        }
                        for u in t.stop_time_updates
                    ],
                },
            }
            for t in trips
        ],
    }
    return (
        json_format.ParseDict(vp, rt.FeedMessage()).SerializeToString()
        + json_format.ParseDict(tu, rt.FeedMessage()).SerializeToString()
    )


def time_feeds(count: int) -> tuple[float, float]:
    from schedule_engine.feeds.builders import build_trip_updates, build_vehicle_positions

    vehicles, trips = synthetic_entities(count)
    now = 1_771_257_600

    def direct() -> bytes:
        return (
            build_vehicle_positions(vehicles, now=now).SerializeToString()
            + build_trip_updates(trips, now=now).SerializeToString()
        )

    def best_of(build) -> float:
        best = math.inf
        for _ in range(3):
            began = time.perf_counter()
            build()
            best = min(best, time.perf_counter() - began)
        return best

    return best_of(direct), best_of(lambda: parse_dict_build(vehicles, trips, now))


def main() -> None:
    pings = read_trace(FIXTURES / "avl.csv")
    runs = runs_of(pings)
    schedule = read_schedule(FIXTURES / "gtfs.zip", {run.trip_id for run in runs})
    geometries = {trip_id: schedule.geometry(trip_id) for trip_id in schedule.trips}
    print(
        f"WMATA trace: {len(pings)} pings, {len(runs)} runs (vehicle x trip), "
        f"{len(geometries)} trips"
    )
    evaluate_matching(schedule, runs, geometries, WMATA)
    evaluate_predictions(schedule, runs, geometries)
    print(
        f"(c) matcher: {time_matcher(schedule, runs, geometries):.1f} µs per position "
        "(whole trace, fastest of 7 passes per run)"
    )
    direct, parse_dict = time_feeds(5000)
    print(
        f"    VehiclePositions + TripUpdates for 5,000 runs (20 stop updates each): "
        f"direct {direct:.3f} s, ParseDict {parse_dict:.3f} s ({parse_dict / direct:.1f}x)"
    )


if __name__ == "__main__":
    main()
