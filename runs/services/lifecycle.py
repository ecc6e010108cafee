"""The lifecycle service: the one way a run changes state.

``run_event_apply`` locks the run row, builds its snapshot,
lets the pure ``decide`` judge the event, saves the new state, records the attempt
(applied or refused, with every guard's result) and performs the hot-state actions,
all while holding the row lock, so transitions of one run reach Redis in the order
they reach the database. Redis is written last inside the transaction; if that write
or the commit fails, the captured pre-image of the run's keys is restored, so hot state
and database never disagree. ``run_create`` is the driver's sign-on: create, validate,
initialize in one call.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from functools import partial

from django.conf import settings
from django.db import IntegrityError, OperationalError, connection, transaction

from databus import notify
from databus.redis import get_redis
from runs.domain.lifecycle.details import details_problem
from runs.domain.lifecycle.events import RunEvent
from runs.domain.lifecycle.machine import Decision, decide
from runs.domain.lifecycle.roles import ActorRole
from runs.domain.lifecycle.snapshot import EventContext
from runs.domain.lifecycle.states import RunState
from runs.models import Operator, Run, RunLifecycleTransition, Vehicle
from runs.services import hot_state, schedule
from runs.services.actors import Actor
from runs.services.snapshot import run_snapshot_build
from runs.services.thresholds import thresholds_get

# Beyond this a concurrent change holds the run: answer 409 (a setting, so tests can shorten it).
DEFAULT_LOCK_TIMEOUT_MS = 5000
_LOCK_NOT_AVAILABLE = "55P03"

logger = logging.getLogger(__name__)


class RunNotFound(LookupError):
    pass


class RunConflict(Exception):
    """A concurrent change holds the run or its resources; retrying may succeed."""


class RunCreateForbidden(PermissionError):
    pass


class RunDetailsInvalid(ValueError):
    """An event's ``details`` is beyond ``DETAILS_BOUND``: refused before anything is stored."""


@dataclass(frozen=True)
class EventOutcome:
    run: Run
    decision: Decision
    transition: RunLifecycleTransition


def _record(
    run: Run, decision: Decision, actor: Actor, details: Mapping, at: dt.datetime
) -> RunLifecycleTransition:
    return RunLifecycleTransition.objects.create(
        run=run,
        event=decision.event.value,
        from_state=decision.source.value,
        to_state=decision.target.value,
        accepted=decision.accepted,
        refusal=decision.refusal.value if decision.refusal else "",
        guard_results=[
            {"guard": r.guard.value, "passed": r.passed, "reason": r.reason}
            for r in decision.guard_results
        ],
        actions=[a.value for a in decision.actions],
        actor_id=actor.user_id,
        actor_role=actor.role.value,
        payload=dict(details),
        created_at=at,
    )


def _record_conflict(run_id, event: RunEvent, actor: Actor, details: Mapping) -> None:
    """A conflict aborted the attempt's transaction: record it in a fresh one (best effort:
    if even that has to wait past the lock timeout, the 409 stands unrecorded)."""
    try:
        with transaction.atomic():
            _set_lock_timeout()
            run = Run.objects.filter(pk=run_id).first()
            if run is None:
                return
            RunLifecycleTransition.objects.create(
                run=run,
                event=event.value,
                from_state=run.run_lifecycle_state,
                to_state=run.run_lifecycle_state,
                accepted=False,
                refusal="conflict",
                actor_id=actor.user_id,
                actor_role=actor.role.value,
                payload=dict(details),
                created_at=dt.datetime.now(dt.UTC),
            )
    except OperationalError as error:
        if not _is_lock_timeout(error):
            raise
        logger.warning("conflict on run %s (%s) not recorded: lock timeout", run_id, event)


def _set_lock_timeout() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT set_config('lock_timeout', %s, true)", [_lock_timeout()])


def _lock_timeout() -> str:
    return f"{int(getattr(settings, 'RUN_LOCK_TIMEOUT_MS', DEFAULT_LOCK_TIMEOUT_MS))}ms"


def _is_lock_timeout(error: OperationalError) -> bool:
    return getattr(error.__cause__, "sqlstate", None) == _LOCK_NOT_AVAILABLE


def run_event_apply(
    *, run_id, event: RunEvent, details: Mapping | None = None, actor: Actor
) -> EventOutcome:
    """Apply ``event`` to the run as ``actor``; refused events are recorded, not raised.

    Raises ``RunNotFound`` for an unknown run, ``RunDetailsInvalid`` for ``details`` beyond
    their bound (nothing recorded), and ``RunConflict`` when a concurrent change holds the
    run past the lock timeout or took one of its resources.
    """
    details = {} if details is None else details
    problem = details_problem(details)
    if problem is not None:
        raise RunDetailsInvalid(f"details {problem}")
    details = dict(details)
    client = get_redis()
    image = None
    try:
        with transaction.atomic():
            _set_lock_timeout()
            # NO KEY UPDATE: history rows of this run can still be inserted meanwhile
            # (their foreign key takes KEY SHARE), so a conflict is recorded, not blocked.
            run = Run.objects.select_for_update(of=("self",), no_key=True)
            run = run.select_related("vehicle")
            run = run.filter(pk=run_id).first()
            if run is None:
                raise RunNotFound(str(run_id))
            now = time.time()
            at = dt.datetime.fromtimestamp(now, dt.UTC)
            context = EventContext(
                actor_role=actor.role,
                now=now,
                actor_operates_run=actor.operates(run.operator_id),
                details=details,
                thresholds=thresholds_get(),
            )
            decision = decide(run_snapshot_build(run, event, client, details), event, context)
            if decision.accepted:
                run.run_lifecycle_state = decision.target.value
                run.last_event = event.value
                run.last_event_at = at
                run.save(update_fields=["run_lifecycle_state", "last_event", "last_event_at"])
            transition = _record(run, decision, actor, details, at)
            if decision.accepted:
                # Change, then notify: live clients hear of it only once it is committed.
                transaction.on_commit(partial(_announce, run, decision), robust=True)
            if decision.accepted and decision.actions:
                image = hot_state.capture(client, run)
                hot_state.apply(client, run, decision.actions)
    except OperationalError as error:
        if image is not None:
            hot_state.restore(client, image)
        if _is_lock_timeout(error):
            _record_conflict(run_id, event, actor, details)
            raise RunConflict("the run is being changed by another request") from error
        raise
    except IntegrityError as error:
        # A partial unique constraint: another run claimed the vehicle, trip or operator.
        if image is not None:
            hot_state.restore(client, image)
        _record_conflict(run_id, event, actor, details)
        raise RunConflict("another run holds this run's vehicle, trip or operator") from error
    except BaseException:
        if image is not None:
            hot_state.restore(client, image)
        raise
    return EventOutcome(run, decision, transition)


def _announce(run: Run, decision: Decision) -> None:
    notify.run_state_changed(
        notify.RunStateChanged(
            run_id=str(run.pk),
            state=decision.target.value,
            previous_state=decision.source.value,
            event=decision.event.value,
            vehicle_id=run.vehicle_id,
            route_id=run.route_id,
            trip_id=run.trip_id,
        )
    )


@dataclass(frozen=True)
class RunCreateOutcome:
    run: Run
    outcomes: tuple[EventOutcome, ...]  # validate, then initialize if validation passed

    @property
    def refused(self) -> EventOutcome | None:
        return next((o for o in self.outcomes if not o.decision.accepted), None)


def run_create(
    *,
    actor: Actor,
    vehicle: Vehicle,
    trip_id: str,
    start_date: dt.date,
    operator: Operator | None = None,
    route_id: str = "",
    shape_id: str = "",
    direction_id: int | None = None,
    start_time: str = "",
    schedule_relationship: str = Run.ScheduleRelationship.SCHEDULED,
) -> RunCreateOutcome:
    """Create a run, validate it and initialize it (like a driver signing on).

    Fields left empty are taken from the trip in the current feed; fields given are
    checked against it by the ``gtfs_valid`` guard. An operator signs on as themselves.
    """
    if actor.role is ActorRole.OPERATOR:
        if actor.operator_id is None:
            raise RunCreateForbidden("your account has the operator role but no operator record")
        if operator is not None and operator.pk != actor.operator_id:
            raise RunCreateForbidden("operators create runs only for themselves")
        operator = Operator.objects.get(pk=actor.operator_id)
    scheduled = schedule.scheduled_trip_facts_get(trip_id)
    if scheduled is not None:
        route_id = route_id or scheduled.route_id
        shape_id = shape_id or scheduled.shape_id
        direction_id = scheduled.direction_id if direction_id is None else direction_id
    run = Run.objects.create(
        vehicle=vehicle,
        operator=operator,
        route_id=route_id,
        trip_id=trip_id,
        shape_id=shape_id,
        direction_id=direction_id,
        start_date=start_date,
        start_time=start_time or (scheduled.start_time if scheduled else ""),
        schedule_relationship=schedule_relationship,
        run_lifecycle_state=RunState.REQUESTED.value,
        feed_version=scheduled.feed_id if scheduled else "",
        created_by_id=actor.user_id,
    )
    outcomes = [run_event_apply(run_id=run.pk, event=RunEvent.VALIDATE_RUN, actor=actor)]
    if outcomes[-1].decision.accepted:
        outcomes.append(run_event_apply(run_id=run.pk, event=RunEvent.INITIALIZE_RUN, actor=actor))
    run.refresh_from_db()
    return RunCreateOutcome(run, tuple(outcomes))
