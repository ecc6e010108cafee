"""Running the fleet simulator: fleet records, runs through the lifecycle service, the ticks.

``fleet_prepare`` creates (or reuses), through ``runs.services.fleet``, the simulator
company, one operator per vehicle, the vehicles ``SIM-001``… (each with a tracker IMEI,
derived from its id unless it has one) and the ``simulator`` user
(group ``dispatcher``: it is the actor of every lifecycle call the simulator makes);
``fleet_release`` releases whatever runs a previous session left holding those vehicles
or operators. ``trip_candidates_read`` lists the trips a vehicle may take (see
``trips``). ``FleetSimulator.run`` ticks once per simulated second: each free vehicle
takes a trip (``run_create`` — validate, initialize — and ``run_event_apply`` to
confirm its run), each busy one publishes its position and occupancy (unless the fault
plan silences it) through the ``FleetPublisher`` it was given (MQTT or a Redis Stream),
due fault payloads go out (MQTT only), then the publisher is flushed; tracking, start and
completion are left to the server's detectors, as for a real bus. A vehicle whose
run ended (Completed at its terminal, or ended by someone else) takes another trip.
On stop, runs still held are released (interrupted or cancelled) and the publisher
disconnects. Planning is pure (``motion``, ``occupancy``, ``faults``, ``trips``).
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import DatabaseError
from django.db.models import Q
from redis.exceptions import RedisError

from databus.db_health import heal_connections
from realtime_engine.replay.runner import run_release
from realtime_engine.simulation.clock import SimulationClock
from realtime_engine.simulation.faults import FaultPlan, invalid_payload
from realtime_engine.simulation.messages import position_fix
from realtime_engine.simulation.motion import (
    LAYOVER_S,
    TripMotion,
    motion_sample,
    shape_point,
    trip_motion,
)
from realtime_engine.simulation.occupancy import load_profile, occupancy_percentage
from realtime_engine.simulation.publisher import TelemetryPublisher
from realtime_engine.simulation.publishing import FleetPublisher, Load
from realtime_engine.simulation.trips import TripCandidate, any_due, trip_choose
from runs.domain.lifecycle.events import RunEvent
from runs.domain.lifecycle.roles import ActorRole
from runs.domain.lifecycle.states import CLAIMING_STATES, FINAL_STATES, RunState
from runs.models import Operator, Run, Vehicle
from runs.services.actors import Actor
from runs.services.fleet import (
    company_register,
    dispatcher_register,
    operator_register,
    vehicle_register,
    vehicle_tracker_imei_ensure,
)
from runs.services.lifecycle import RunConflict, run_create, run_event_apply
from schedule_engine.gtfs_import.fields import format_time
from schedule_engine.models import StopTime, Trip
from schedule_engine.selectors import (
    current_feed_get,
    scheduled_trip_get,
    service_day_trips,
    stop_list,
    trip_geometry_get,
)

logger = logging.getLogger(__name__)

SIMULATOR_COMPANY = "Fleet simulator"
SIMULATOR_USERNAME = "simulator"
# Run states are read from the database this often (wall seconds).
STATE_CHECK_EVERY_S = 0.5
# A vehicle parked at its terminal whose run is still not Completed after this many
# wall seconds of telemetry gives the run up (releases it) and takes another trip.
COMPLETION_TIMEOUT_S = 90.0
# A free vehicle that found no trip (or failed to start one) tries again after this.
ASSIGN_RETRY_S = 5.0
# Trips tried per assignment before the vehicle waits for ASSIGN_RETRY_S.
ASSIGN_ATTEMPTS = 5
# The candidate trips are re-read this often (wall seconds): the service day moves on.
CANDIDATES_TTL_S = 300.0
CLAIMING_VALUES = sorted(state.value for state in CLAIMING_STATES)
FINAL_VALUES = frozenset(state.value for state in FINAL_STATES)


class SimulationError(RuntimeError):
    """The simulation cannot start (no current feed, no usable trip)."""


def vehicle_id_for(number: int) -> str:
    return f"SIM-{number:03d}"


@dataclass
class Assignment:
    """A vehicle on one trip: its run, its motion and where the trip started."""

    run_id: object
    candidate: TripCandidate
    motion: TripMotion
    loads: tuple[int, ...]
    start_tick: int
    odometer_base_m: float
    parked_since: float | None = None  # wall time the vehicle was first heard at its terminal
    ended_as: str | None = None  # the run's final state, once seen


@dataclass
class FleetVehicle:
    vehicle: Vehicle
    operator: Operator
    odometer_m: float
    trips_taken: int = 0
    position: tuple[float, float] | None = None
    assignment: Assignment | None = None
    retry_at: float = 0.0

    @property
    def vehicle_id(self) -> str:
        return self.vehicle.pk


@dataclass
class SimulationReport:
    runs_started: int = 0
    runs_completed: int = 0
    runs_completed_early: int = 0  # before the vehicle reached its terminal (a server fault)
    runs_ended_otherwise: int = 0
    runs_released: int = 0
    injected: int = 0
    refused: dict[str, int] = field(default_factory=dict)


def fleet_prepare(count: int) -> tuple[Actor, list[FleetVehicle]]:
    """The simulator actor and its vehicles with their operators (created once, reused)."""
    company = company_register(name=SIMULATOR_COMPANY)
    user = dispatcher_register(
        username=SIMULATOR_USERNAME, first_name="Fleet", last_name="Simulator"
    )
    actor = Actor(ActorRole.DISPATCHER, user.pk)
    fleet = []
    for number in range(1, count + 1):
        vehicle = vehicle_register(
            vehicle_id=vehicle_id_for(number),
            company=company,
            label=f"Sim {number}",
            license_plate=f"SIM {number:03d}",
            wheelchair_accessible=number % 3 != 0,
        )
        vehicle_tracker_imei_ensure(vehicle)
        operator = operator_register(
            username=f"simulator-driver-{number:03d}", company=company, badge=f"S{number:03d}"
        )
        # Each bus has its own mileage (odometer in metres).
        fleet.append(FleetVehicle(vehicle, operator, odometer_m=40_000_000.0 + 731_000.0 * number))
    return actor, fleet


def fleet_release(fleet: list[FleetVehicle], actor: Actor) -> int:
    """Release the runs holding the fleet's vehicles or operators; how many were released."""
    holders = Run.objects.filter(
        Q(vehicle__in=[v.vehicle for v in fleet]) | Q(operator__in=[v.operator for v in fleet]),
        run_lifecycle_state__in=CLAIMING_VALUES,
    )
    released = 0
    for run in holders:
        try:
            released += run_release(run, actor=actor)
        except RunConflict:
            logger.warning("simulator: run %s is busy; not released", run.pk)
    return released


def trip_candidates_read(now: float) -> list[TripCandidate]:
    """Trip instances of yesterday's and today's service days; if none runs now, every trip
    of the feed as if it departed now (the demo always moves)."""
    feed = current_feed_get()
    if feed is None:
        raise SimulationError("no current GTFS feed: run import_gtfs --activate first")
    today = dt.datetime.fromtimestamp(now, ZoneInfo(feed.timezone)).date()
    origins = {
        stop_id: (lat, lon)
        for stop_id, lat, lon in stop_list(feed=feed).values_list("stop_id", "lat", "lon")
        if lat is not None and lon is not None
    }
    candidates = [
        TripCandidate(
            trip_id=instance.trip_id,
            service_date=instance.service_date,
            start_time=instance.start_time,
            first_departure=instance.first_departure.timestamp(),
            last_arrival=instance.last_arrival.timestamp(),
            origin=origins.get(instance.stop_times[0].stop_id) if instance.stop_times else None,
        )
        for day in (today - dt.timedelta(days=1), today)
        for instance in service_day_trips(day, feed=feed)
        if instance.shape_id
    ]
    if any_due(candidates, now):
        return candidates
    first_stops = dict(
        StopTime.objects.filter(feed=feed)
        .order_by("trip_id", "stop_sequence")
        .distinct("trip_id")
        .values_list("trip_id", "stop_id")
    )
    trips = Trip.objects.filter(feed=feed, first_departure_s__isnull=False).exclude(shape_id="")
    return [
        TripCandidate(
            trip_id=trip.trip_id,
            service_date=today,
            start_time=format_time(trip.first_departure_s),
            first_departure=now,
            last_arrival=now + max((trip.last_arrival_s or 0) - trip.first_departure_s, 0),
            origin=origins.get(first_stops.get(trip.trip_id, "")),
        )
        for trip in trips
    ]


def trip_motion_for(trip_id: str, *, seed: str, layover_s: float = LAYOVER_S) -> TripMotion | None:
    """The simulated motion of a trip of the current feed; None without shape or stop times.

    The vehicle waits ``layover_s`` simulated seconds at the first stop before it leaves."""
    scheduled = scheduled_trip_get(trip_id)
    try:
        geometry = trip_geometry_get(trip_id)
    except (LookupError, ValueError):
        return None
    if scheduled is None or geometry is None:
        return None
    times = {stop.stop_sequence: (stop.arrival_s, stop.departure_s) for stop in scheduled.stops}
    try:
        stop_times = [times[sequence] for sequence in geometry.stop_sequences]
        return trip_motion(trip_id, geometry, stop_times, seed=seed, layover_s=layover_s)
    except (KeyError, ValueError):
        return None


def claimed_trip_ids() -> set[str]:
    claiming = Run.objects.filter(run_lifecycle_state__in=CLAIMING_VALUES)
    return set(claiming.values_list("trip_id", flat=True))


def trip_instances_run(since: dt.date) -> set[tuple[str, dt.date, str]]:
    """(trip id, service date, start time) of the runs since ``since`` not cancelled."""
    runs = Run.objects.filter(start_date__gte=since).exclude(
        run_lifecycle_state=RunState.CANCELLED.value
    )
    return set(runs.values_list("trip_id", "start_date", "start_time"))


class FleetSimulator:
    def __init__(
        self,
        fleet: list[FleetVehicle],
        actor: Actor,
        publisher: FleetPublisher,
        clock: SimulationClock,
        faults: FaultPlan,
        *,
        seed: str,
        say: Callable[[str], None] = logger.info,
    ) -> None:
        if faults.injections and not isinstance(publisher, TelemetryPublisher):
            raise SimulationError("invalid payloads are MQTT messages: inject them over MQTT")
        self._fleet = fleet
        self._actor = actor
        self._publisher = publisher
        self._clock = clock
        self._faults = faults
        self._seed = seed
        self._candidates: list[TripCandidate] = []
        self._candidates_at = -CANDIDATES_TTL_S
        self._unusable: set[str] = set()  # trips without a usable shape or stop times
        self._say = say
        self._now = time.time
        self._next_state_check = 0.0
        self.stopping = threading.Event()
        self.report = SimulationReport()

    def run(self, *, until: float | None = None) -> SimulationReport:
        """Tick until ``stopping`` is set or the wall clock passes ``until``; then release."""
        tick = 0
        try:
            while not self.stopping.is_set() and (until is None or self._now() < until):
                self.tick(tick)
                tick += 1
                self.stopping.wait(max(self._clock.wall_at(tick) - self._now(), 0.0))
        finally:
            self._release_all()
        return self.report

    def tick(self, tick: int) -> None:
        """One simulated second for the whole fleet."""
        # A long-running command has no request boundary: after a PostgreSQL restart its
        # dropped connection would fail every later query until the process restarts.
        heal_connections()
        now = self._now()
        if now >= self._next_state_check:
            self._next_state_check = now + STATE_CHECK_EVERY_S
            self._check_runs(now, tick)
        for vehicle in self._fleet:
            if vehicle.assignment is None and now >= vehicle.retry_at:
                self._assign(vehicle, tick, now)
            if vehicle.assignment is not None:
                self._drive(vehicle, vehicle.assignment, tick, now)
        for injection in self._faults.injections_at(tick):
            # Near the vehicle it claims to come from (or any vehicle already on the road).
            known = {v.vehicle_id: v.position for v in self._fleet if v.position is not None}
            where = known.get(injection.vehicle_id) or next(iter(known.values()), None)
            if where is None:
                continue
            payload = invalid_payload(
                injection.payload,
                latitude=where[0],
                longitude=where[1],
                timestamp=self._clock.timestamp_at(tick),
            )
            self._publisher.publish(injection.vehicle_id, injection.leaf, payload)
            self.report.injected += 1
        self._publisher.flush()

    def _drive(self, vehicle: FleetVehicle, assignment: Assignment, tick: int, now: float) -> None:
        motion = assignment.motion
        t = tick - assignment.start_tick
        sample = motion_sample(motion, t)
        point = shape_point(motion.geometry, sample.distance_m)
        vehicle.position = (point.latitude, point.longitude)
        silenced = self._faults.silenced(vehicle.vehicle_id, tick)
        if t >= motion.end_s:
            # Parked at the terminal until the detectors complete the run.
            if silenced:
                assignment.parked_since = None
            elif assignment.parked_since is None:
                assignment.parked_since = now
        if silenced:
            return
        timestamp = self._clock.timestamp_at(tick)
        odometer = assignment.odometer_base_m + sample.distance_m - motion.stops[0].distance_m
        self._publisher.publish_position(
            vehicle.vehicle_id,
            position_fix(
                point,
                speed_mps=self._clock.reported_speed(sample.speed_mps),
                odometer_m=odometer,
                timestamp=timestamp,
            ),
        )
        load = assignment.loads[sample.stop_index]
        self._publisher.publish_occupancy(
            vehicle.vehicle_id,
            Load(count=load, percentage=occupancy_percentage(load), timestamp=timestamp),
        )

    def _candidates_get(self, now: float) -> list[TripCandidate]:
        if now - self._candidates_at >= CANDIDATES_TTL_S:
            self._candidates = trip_candidates_read(now)
            self._candidates_at = now
        return self._candidates

    def _assign(self, vehicle: FleetVehicle, tick: int, now: float) -> None:
        vehicle.retry_at = now + ASSIGN_RETRY_S
        try:
            candidates = self._candidates_get(now)
            if not candidates:
                return
            busy = claimed_trip_ids() | self._unusable
            taken = trip_instances_run(min(c.service_date for c in candidates))
            for _ in range(ASSIGN_ATTEMPTS):
                candidate = trip_choose(
                    candidates, now=now, busy=busy, taken=taken, near=vehicle.position
                )
                if candidate is None:
                    return
                busy.add(candidate.trip_id)
                seed = f"{self._seed}|{vehicle.vehicle_id}|{vehicle.trips_taken}"
                # A trip that departs later: lay over at its first stop until it is due,
                # as a real bus does (leaving early would not be following its trip).
                layover_s = max(LAYOVER_S, (candidate.first_departure - now) * self._clock.speedup)
                motion = trip_motion_for(candidate.trip_id, seed=seed, layover_s=layover_s)
                if motion is None:
                    self._unusable.add(candidate.trip_id)
                    continue
                run_id = self._run_start(vehicle, candidate)
                if run_id is None:
                    continue
                vehicle.trips_taken += 1
                vehicle.assignment = Assignment(
                    run_id=run_id,
                    candidate=candidate,
                    motion=motion,
                    loads=load_profile(len(motion.stops), seed=seed),
                    start_tick=tick,
                    odometer_base_m=vehicle.odometer_m,
                )
                self._say(
                    f"{vehicle.vehicle_id}: trip {candidate.trip_id} ({candidate.service_date}"
                    f" {candidate.start_time}), run {run_id}"
                )
                return
        except (DatabaseError, RedisError) as error:
            logger.warning("simulator: %s could not take a trip: %s", vehicle.vehicle_id, error)

    def _run_start(self, vehicle: FleetVehicle, candidate: TripCandidate):
        """Create, validate, initialize and confirm the run; its id, or None if refused."""
        try:
            outcome = run_create(
                actor=self._actor,
                vehicle=vehicle.vehicle,
                trip_id=candidate.trip_id,
                start_date=candidate.service_date,
                operator=vehicle.operator,
                start_time=candidate.start_time,
            )
            refused = outcome.refused
            if refused is None:
                confirmed = run_event_apply(
                    run_id=outcome.run.pk,
                    event=RunEvent.RUN_CONFIRMED_BY_OPERATOR,
                    details={"source": "simulator"},
                    actor=self._actor,
                )
                if confirmed.decision.accepted:
                    self.report.runs_started += 1
                    return outcome.run.pk
                refused = confirmed
        except RunConflict:
            self._count_refusal("conflict")
            return None
        reason = (refused.decision.reasons or ("refused",))[0]
        self._count_refusal(reason)
        logger.info("simulator: run for %s refused: %s", candidate.trip_id, reason)
        run_release(outcome.run, actor=self._actor)
        return None

    def _count_refusal(self, reason: str) -> None:
        self.report.refused[reason] = self.report.refused.get(reason, 0) + 1

    def _check_runs(self, now: float, tick: int) -> None:
        """Note the runs that ended; free the vehicles done with their trip whose run ended;
        give up runs parked at their terminal too long without being completed."""
        busy = {v.assignment.run_id: v for v in self._fleet if v.assignment is not None}
        if not busy:
            return
        try:
            states = dict(
                Run.objects.filter(pk__in=list(busy)).values_list("pk", "run_lifecycle_state")
            )
            for run_id, vehicle in busy.items():
                assignment = vehicle.assignment
                state = states.get(run_id)
                if assignment.ended_as is None and (state in FINAL_VALUES or state is None):
                    self._run_ended(vehicle, assignment, state or "deleted", tick)
                if tick - assignment.start_tick < assignment.motion.end_s:
                    continue  # still on its way: a vehicle finishes its trip, run or not
                if assignment.ended_as is not None:
                    self._finish(vehicle, assignment)
                elif (
                    assignment.parked_since is not None
                    and now - assignment.parked_since > COMPLETION_TIMEOUT_S
                ):
                    logger.warning(
                        "simulator: run %s still %s at its terminal; releasing it", run_id, state
                    )
                    self._release(vehicle)
                    assignment.ended_as = "released"
                    self._finish(vehicle, assignment)
        except (DatabaseError, RedisError, RunConflict) as error:
            logger.warning("simulator: run states not checked: %s", error)

    def _run_ended(
        self, vehicle: FleetVehicle, assignment: Assignment, state: str, tick: int
    ) -> None:
        assignment.ended_as = state
        if state != RunState.COMPLETED.value:
            self.report.runs_ended_otherwise += 1
            return
        self.report.runs_completed += 1
        motion = assignment.motion
        sample = motion_sample(motion, tick - assignment.start_tick)
        # A run completes within RUN_TERMINAL_ZONE_M of its terminal (the detector's zone):
        # only a completion farther out than that came before the vehicle got there.
        if motion.stops[-1].distance_m - sample.distance_m > settings.RUN_TERMINAL_ZONE_M:
            self.report.runs_completed_early += 1
            logger.warning(
                "simulator: run %s (trip %s) Completed before %s reached its terminal",
                assignment.run_id,
                assignment.candidate.trip_id,
                vehicle.vehicle_id,
            )

    def _finish(self, vehicle: FleetVehicle, assignment: Assignment) -> None:
        motion = assignment.motion
        vehicle.odometer_m += motion.stops[-1].distance_m - motion.stops[0].distance_m
        vehicle.assignment = None
        vehicle.retry_at = 0.0
        self._say(
            f"{vehicle.vehicle_id}: trip {assignment.candidate.trip_id} {assignment.ended_as}"
        )

    def _release(self, vehicle: FleetVehicle) -> None:
        run = Run.objects.filter(pk=vehicle.assignment.run_id).first()
        if run is not None and run_release(run, actor=self._actor):
            self.report.runs_released += 1

    def _release_all(self) -> None:
        for vehicle in self._fleet:
            if vehicle.assignment is None:
                continue
            try:
                self._release(vehicle)
            except (DatabaseError, RedisError, RunConflict) as error:
                logger.warning(
                    "simulator: run %s not released: %s", vehicle.assignment.run_id, error
                )
            vehicle.assignment = None
