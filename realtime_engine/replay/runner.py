"""Performing a replay plan: vehicles and operators, runs through the lifecycle service, telemetry.

``replay_prepare`` creates what the plan's runs need through ``runs.services.fleet``
(a replay company, each vehicle with a tracker IMEI — its own, or one derived from its
id — and for each vehicle a replay operator who signs on
its runs: an operator holds one run at a time, as a driver does). ``ReplayRunner.run``
walks the plan's steps at the clock's pace: ``StartRun`` releases whatever still claims
the vehicle or trip (a previous replay's run), creates the run as its operator
(``run_create``: validate, initialize) and confirms it (``run_event_apply``);
``EndRun`` sends the run the event that releases it in its current state; each
``Publish`` hands one fix to the ``FleetPublisher`` (MQTT at QoS 1 from
``replay_publisher``, or a Redis Stream), flushed before each wait and at the end.
Tracking, start and completion are left to the detectors, as for a real bus.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from django.db.models import Q

from databus.db_health import DATABASE_UNAVAILABLE, heal_connections
from databus.env import MqttAddress
from realtime_engine.replay.plan import (
    ENDING_EVENT,
    EndRun,
    PlannedRun,
    Publish,
    ReplayClock,
    ReplayPlan,
    StartRun,
)
from realtime_engine.simulation.publisher import TelemetryPublisher
from realtime_engine.simulation.publishing import FleetPublisher
from runs.domain.lifecycle.events import RunEvent
from runs.domain.lifecycle.roles import ActorRole
from runs.domain.lifecycle.states import CLAIMING_STATES, RunState
from runs.models import Run, Vehicle
from runs.services.actors import SYSTEM, Actor
from runs.services.fleet import (
    company_register,
    operator_register,
    vehicle_register,
    vehicle_tracker_imei_ensure,
)
from runs.services.lifecycle import RunConflict, run_create, run_event_apply

logger = logging.getLogger(__name__)

REPLAY_COMPANY = "AVL replay"
PUBLISH_TIMEOUT_S = 60.0


def _operator_username(vehicle_id: str) -> str:
    return f"replay-{vehicle_id}"


def replay_prepare(plan: ReplayPlan) -> dict[str, Actor]:
    """Vehicles and their replay operators (created once, reused); actors by vehicle id."""
    company = company_register(name=REPLAY_COMPANY)
    actors = {}
    for vehicle_id, label in plan.vehicles.items():
        vehicle_tracker_imei_ensure(
            vehicle_register(vehicle_id=vehicle_id, company=company, label=label)
        )
        operator = operator_register(username=_operator_username(vehicle_id), company=company)
        actors[vehicle_id] = Actor(ActorRole.OPERATOR, operator.user_id, operator.pk)
    return actors


def run_release(run: Run, *, actor: Actor = SYSTEM) -> bool:
    """Send the run the event that frees its vehicle, trip and operator; False if none applies."""
    event = ENDING_EVENT.get(RunState(run.run_lifecycle_state))
    if event is None:
        return False
    outcome = run_event_apply(run_id=run.pk, event=event, details={"reason": "replay"}, actor=actor)
    return outcome.decision.accepted


@dataclass
class ReplayReport:
    published: int = 0
    runs_started: int = 0
    runs_ended: int = 0
    refused: Counter[str] = field(default_factory=Counter)


def replay_publisher(address: MqttAddress, topic_root: str) -> TelemetryPublisher:
    """The replay's position messages go through the simulator's QoS 1 publisher: it carries
    on across a broker restart (paho resends what was not acknowledged once it reconnects),
    and ``close`` waits up to PUBLISH_TIMEOUT_S for the acknowledgements and counts the
    missing ones."""
    return TelemetryPublisher(address, topic_root, name="replay", close_timeout_s=PUBLISH_TIMEOUT_S)


class ReplayRunner:
    def __init__(
        self,
        plan: ReplayPlan,
        clock: ReplayClock,
        publisher: FleetPublisher,
        actors: dict[str, Actor],
        *,
        sleep: Callable[[float], None] = time.sleep,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self._plan = plan
        self._clock = clock
        self._publisher = publisher
        self._actors = actors
        self._sleep = sleep
        self._now = wall_clock
        self._run_ids: dict[str, object] = {}  # planned run key → run id
        self.report = ReplayReport()

    def run(self) -> ReplayReport:
        for step in self._plan.steps:
            delay = self._clock.wall_at(step.at) - self._now()
            if delay > 0:
                self._publisher.flush()
                self._sleep(delay)
            if isinstance(step, Publish):
                self._publisher.publish_position(step.ping.vehicle_id, self._clock.fix(step.ping))
                self.report.published += 1
            elif isinstance(step, StartRun | EndRun):
                self._publisher.flush()  # what came before the run step goes out before it
                self._run_step(step)
        self._publisher.flush()
        return self.report

    def _run_step(self, step: StartRun | EndRun) -> None:
        """Start or end a run; a database outage skips that step (counted), not the replay."""
        heal_connections()  # no request boundary here: reopen a connection the server dropped
        try:
            if isinstance(step, StartRun):
                self._start(step.run)
            else:
                self._end(step.run)
        except DATABASE_UNAVAILABLE as error:
            logger.warning("replay: %s of run %s skipped: %s", type(step).__name__, step.run, error)
            self.report.refused["database_unavailable"] += 1

    def _release_holders(self, planned: PlannedRun) -> None:
        holders = Run.objects.filter(
            Q(vehicle_id=planned.vehicle_id) | Q(trip_id=planned.trip_id),
            run_lifecycle_state__in=[s.value for s in CLAIMING_STATES],
        )
        for holder in holders:
            if not run_release(holder):
                logger.warning("replay: run %s (%s) still holds its claims", holder.pk, holder)

    def _start(self, planned: PlannedRun) -> None:
        actor = self._actors[planned.vehicle_id]
        try:
            self._release_holders(planned)
            outcome = run_create(
                actor=actor,
                vehicle=Vehicle.objects.get(pk=planned.vehicle_id),
                trip_id=planned.trip_id,
                start_date=self._clock.service_date(planned.start_date),
                start_time=planned.start_time,
            )
            if outcome.refused is not None:
                reasons = outcome.refused.decision.reasons or ("refused",)
                self.report.refused[reasons[0]] += 1
                return
            confirmed = run_event_apply(
                run_id=outcome.run.pk, event=RunEvent.RUN_CONFIRMED_BY_OPERATOR, actor=actor
            )
        except RunConflict:
            self.report.refused["conflict"] += 1
            return
        if confirmed.decision.accepted:
            self._run_ids[planned.key] = outcome.run.pk
            self.report.runs_started += 1

    def _end(self, planned: PlannedRun) -> None:
        run_id = self._run_ids.pop(planned.key, None)
        run = Run.objects.filter(pk=run_id).first() if run_id is not None else None
        if run is not None and run_release(run):
            self.report.runs_ended += 1
