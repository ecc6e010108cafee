"""Trip operations: the dispatcher's changes to trips that TripUpdates publishes, and a
run's change of vehicle.

- ``trip_cancel_ahead`` / ``trip_reenable``: a scheduled trip of one service day is
  CANCELED before any run operates it, until a time bound, or until re-enabled;
- ``trip_add`` / ``operation_end``: a trip outside the schedule, with its stop times and
  vehicle, published as NEW;
- ``trip_skip_stops`` / ``operation_end``: some stops of a trip SKIPPED (a detour or a
  closure), optionally with a DETOUR service alert (``alerts.services``) that ends with it;
- ``run_vehicle_change``: a claiming run moves to another vehicle, through the lifecycle
  service (event ``change_vehicle``).

Like ``run_event_apply``, every attempt is recorded (``TripOperationAttempt``: who, with
which role, what was asked, accepted or why refused) and a refusal is returned, not raised.
Roles come from the caller's ``Actor`` (Django groups), never from the request.

The operations reach hot state as the ``keys.TRIP_OPERATIONS`` hash (contract
``runs.domain.projections.trip_operations``), written after commit; the hash is written
whole from PostgreSQL by ``trip_operations_sync`` (the hot-state rebuild, and beat's
re-sync, which also repairs a write lost after a commit). GTFS times of a service day
become instants through the agency time zone's service-day origin
(``schedule_engine.service_days``).
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from functools import partial
from zoneinfo import ZoneInfo

import redis
from django.conf import settings
from django.db import IntegrityError, OperationalError, transaction

from alerts.services import AlertInvalid, AlertNotFound, alert_create, alert_end
from alerts.values import DEFAULT_LANGUAGE, ActivePeriod, AlertInput, InformedEntity, Translation
from databus import keys
from databus.redis import get_redis
from runs.domain.lifecycle.events import RunEvent
from runs.domain.lifecycle.guards import VEHICLE_CHANGE_ROLES
from runs.domain.lifecycle.roles import ActorRole
from runs.domain.lifecycle.table import TRANSITION_BY_KEY
from runs.domain.projections import trip_operations as contract
from runs.models import Run, TripOperation, TripOperationAttempt, Vehicle
from runs.services import hot_state
from runs.services.actors import Actor
from runs.services.lifecycle import (
    EventOutcome,
    RunConflict,
    RunNotFound,
    _is_lock_timeout,
    _record_conflict,
    _set_lock_timeout,
    run_event_apply,
)
from runs.services.snapshot import REQUESTED_VEHICLE, claim_holders
from schedule_engine import selectors as schedule
from schedule_engine.gtfs_import.errors import FieldError
from schedule_engine.gtfs_import.fields import parse_time
from schedule_engine.models import Feed
from schedule_engine.scheduled import ScheduledTrip
from schedule_engine.service_days import service_day_origin

logger = logging.getLogger(__name__)

Kind = TripOperation.Kind
Step = TripOperationAttempt.Action
WRITE_ROLES = frozenset({ActorRole.SYSTEM, ActorRole.DISPATCHER})
NON_FIELD = "non_field_errors"


class Refusal(StrEnum):
    INVALID = "invalid"  # the input does not fit the current GTFS or the operation (400)
    FORBIDDEN = "forbidden"  # the role may not (403)
    NOT_FOUND = "not_found"  # no such operation (404)
    CONFLICT = "conflict"  # a run or another operation holds the trip or vehicle (409)


@dataclass(frozen=True)
class OperationOutcome:
    attempt: TripOperationAttempt
    operation: TripOperation | None
    refusal: Refusal | None = None
    errors: Mapping[str, list[str]] = field(default_factory=dict)  # messages per input field

    @property
    def accepted(self) -> bool:
        return self.refusal is None


class _Refused(Exception):
    def __init__(self, refusal: Refusal, errors: Mapping[str, str | list[str]]):
        super().__init__(refusal)
        self.refusal = refusal
        self.errors = {k: [v] if isinstance(v, str) else list(v) for k, v in errors.items()}


class VehicleNotFound(LookupError):
    pass


@dataclass(frozen=True, slots=True)
class StopTimeInput:
    """One stop of an added trip as given: times "HH:MM:SS" of the service day."""

    stop_sequence: int
    stop_id: str
    arrival_time: str
    departure_time: str

    def as_json(self) -> dict:
        return {
            "stop_sequence": self.stop_sequence,
            "stop_id": self.stop_id,
            "arrival_time": self.arrival_time,
            "departure_time": self.departure_time,
        }


def stop_time_inputs(items: object) -> list[StopTimeInput]:
    """Stop times given as JSON (the admin's form): a list of objects with ``stop_sequence``,
    ``stop_id``, ``arrival_time`` and optionally ``departure_time``; raises ``ValueError``
    naming what is wrong. Their fit with the GTFS is checked by ``trip_add``."""
    if not isinstance(items, list) or not 2 <= len(items) <= contract.MAX_STOP_TIMES:
        raise ValueError(f"a list of 2 to {contract.MAX_STOP_TIMES} stop times")
    stops = []
    for i, item in enumerate(items, 1):
        if not isinstance(item, dict):
            raise ValueError(f"stop time {i} is not an object")
        sequence, stop_id = item.get("stop_sequence"), item.get("stop_id")
        arrival = item.get("arrival_time")
        departure = item.get("departure_time") or arrival
        if not isinstance(sequence, int) or isinstance(sequence, bool):
            raise ValueError(f"stop time {i}: stop_sequence must be an integer")
        if not isinstance(stop_id, str) or not 0 < len(stop_id) <= 255 or "\x00" in stop_id:
            raise ValueError(f"stop time {i}: stop_id must be a stop id")
        for name, value in (("arrival_time", arrival), ("departure_time", departure)):
            try:
                parse_time(value if isinstance(value, str) else "")
            except FieldError:
                raise ValueError(f"stop time {i}: {name} must be HH:MM:SS") from None
        stops.append(StopTimeInput(sequence, stop_id, arrival, departure))
    return stops


# --- the operations ------------------------------------------------------------------


def trip_cancel_ahead(
    *, actor: Actor, trip_id: str, start_date: dt.date, until: dt.datetime | None = None
) -> OperationOutcome:
    """Cancel a scheduled trip of ``start_date`` before any run operates it, until ``until``
    (default: the trip's scheduled end plus ``CANCELED_TRIP_PUBLISH_MARGIN_S``)."""
    payload = {"trip_id": trip_id, "start_date": start_date.isoformat(), "until": _iso(until)}

    def perform() -> TripOperation:
        feed, trip = _trip_running_on(trip_id, start_date)
        # The run of that day cancels itself; one of another day does not hold this one.
        claimed = claim_holders(None, trip_id=trip_id, start_date=start_date)
        if claimed:
            raise _Refused(
                Refusal.CONFLICT,
                {"trip_id": f"run {claimed[0]} operates this trip: cancel the run instead"},
            )
        _close_lapsed(trip_id, start_date)
        if _open(Kind.CANCEL, trip_id, start_date).exists():
            raise _Refused(Refusal.CONFLICT, {"trip_id": "the trip is already cancelled that day"})
        return _scheduled_trip_operation(Kind.CANCEL, actor, feed, trip, start_date, until)

    return _attempt(actor, Step.CANCEL, payload, perform)


def trip_reenable(*, actor: Actor, operation_id: int) -> OperationOutcome:
    """End a cancellation: the trip leaves TripUpdates' CANCELED trips."""
    return _attempt(
        actor,
        Step.REENABLE,
        {"operation_id": operation_id},
        partial(_end, actor, operation_id, (Kind.CANCEL,), "only a cancellation is re-enabled"),
    )


def operation_end(*, actor: Actor, operation_id: int) -> OperationOutcome:
    """End an added trip or a skip of stops (a cancellation is re-enabled instead)."""
    return _attempt(
        actor,
        Step.END,
        {"operation_id": operation_id},
        partial(
            _end,
            actor,
            operation_id,
            (Kind.ADD, Kind.SKIP_STOPS),
            "a cancellation is ended by re-enabling it",
        ),
    )


def trip_add(
    *,
    actor: Actor,
    trip_id: str,
    route_id: str,
    direction_id: int | None,
    start_date: dt.date,
    start_time: str,
    vehicle: Vehicle,
    stop_times: Sequence[StopTimeInput],
) -> OperationOutcome:
    """Add a trip outside the schedule, published as NEW until its last arrival plus
    ``CANCELED_TRIP_PUBLISH_MARGIN_S``: its id new to the current GTFS, its route and stops
    in it, its times increasing; refused while a run claims the vehicle."""
    stops = sorted(stop_times, key=lambda stop: stop.stop_sequence)
    payload = {
        "trip_id": trip_id,
        "route_id": route_id,
        "direction_id": direction_id,
        "start_date": start_date.isoformat(),
        "start_time": start_time,
        "vehicle_id": vehicle.pk,
        "stop_times": [stop.as_json() for stop in stops],
    }

    def perform() -> TripOperation:
        feed = _current_feed()
        if schedule.scheduled_trips_get([trip_id]):
            raise _Refused(
                Refusal.INVALID, {"trip_id": f"trip {trip_id!r} is in the current GTFS already"}
            )
        if not schedule.route_list(feed=feed).filter(route_id=route_id).exists():
            raise _Refused(
                Refusal.INVALID, {"route_id": f"unknown route {route_id!r} in the current GTFS"}
            )
        wanted = {stop.stop_id for stop in stops}
        known = set(
            schedule.stop_list(feed=feed)
            .filter(stop_id__in=wanted)
            .values_list("stop_id", flat=True)
        )
        if wanted - known:
            names = ", ".join(sorted(wanted - known))
            raise _Refused(
                Refusal.INVALID, {"stop_times": f"unknown stops in the current GTFS: {names}"}
            )
        tz = ZoneInfo(feed.timezone)
        operation = TripOperation(
            kind=Kind.ADD,
            trip_id=trip_id,
            start_date=start_date,
            start_time=start_time or (stops[0].departure_time if stops else ""),
            route_id=route_id,
            direction_id=direction_id,
            vehicle=vehicle,
            stop_times=[stop.as_json() for stop in stops],
            created_by_id=actor.user_id,
            feed_version=str(feed.pk),
        )
        now = _now()
        try:
            timed = _added_stop_times(operation, tz)
        except FieldError as error:
            raise _Refused(Refusal.INVALID, {"stop_times": str(error)}) from error
        operation.active_from = now
        operation.active_until = _utc(timed[-1].arrival + settings.CANCELED_TRIP_PUBLISH_MARGIN_S)
        _check_until(operation.active_until, now, field_name="start_date")
        problem = contract.record_problem(operation_record(operation, tz))
        if problem is not None:
            raise _Refused(Refusal.INVALID, {"stop_times": problem})
        claimed = claim_holders(None, vehicle_id=vehicle.pk)
        if claimed:
            raise _Refused(
                Refusal.CONFLICT, {"vehicle_id": f"run {claimed[0]} has claimed this vehicle"}
            )
        _close_lapsed(trip_id, start_date)
        if _open(Kind.ADD, trip_id, start_date).exists():
            raise _Refused(Refusal.CONFLICT, {"trip_id": "this trip is already added that day"})
        operation.save()
        return operation

    return _attempt(actor, Step.ADD, payload, perform)


def trip_skip_stops(
    *,
    actor: Actor,
    trip_id: str,
    start_date: dt.date,
    stop_sequences: Sequence[int],
    detour_alert: bool = False,
    until: dt.datetime | None = None,
) -> OperationOutcome:
    """Skip the stops at ``stop_sequences`` of a scheduled trip on ``start_date`` (SKIPPED
    stop time updates), until ``until`` (default: the trip's end plus the margin)."""
    sequences = sorted(set(stop_sequences))
    payload = {
        "trip_id": trip_id,
        "start_date": start_date.isoformat(),
        "stop_sequences": sequences,
        "detour_alert": detour_alert,
        "until": _iso(until),
    }

    def perform() -> TripOperation:
        feed, trip = _trip_running_on(trip_id, start_date)
        unknown = sorted(set(sequences) - {stop.stop_sequence for stop in trip.stops})
        if unknown:
            raise _Refused(
                Refusal.INVALID,
                {"stop_sequences": f"not stop sequences of trip {trip_id!r}: {unknown}"},
            )
        if len(sequences) >= len(trip.stops):
            raise _Refused(
                Refusal.INVALID, {"stop_sequences": "skipping every stop cancels the trip"}
            )
        operation = _scheduled_trip_operation(
            Kind.SKIP_STOPS,
            actor,
            feed,
            trip,
            start_date,
            until,
            skipped_stop_sequences=sequences,
        )
        problem = contract.record_problem(operation_record(operation, ZoneInfo(feed.timezone)))
        if problem is not None:
            raise _Refused(Refusal.INVALID, {"stop_sequences": problem})
        if detour_alert:
            operation.alert_id = _detour_alert_create(actor, operation, trip)
            operation.save(update_fields=["alert_id"])
        return operation

    return _attempt(actor, Step.SKIP_STOPS, payload, perform)


# --- change of vehicle ---------------------------------------------------------------


def run_vehicle_change(*, actor: Actor, run_id, vehicle_id: str) -> EventOutcome:
    """Move a claiming run to the vehicle ``vehicle_id`` (event ``change_vehicle``).

    Under the run's lock the row takes the new vehicle, then ``run_event_apply`` judges the
    event (the dispatcher's role, the new vehicle unclaimed) and re-projects the run from the
    row: ``run:{rid}``, the claims and ``vehicle:{vid}:metadata`` of the new vehicle; the old
    vehicle's claim is released. A refused change puts the old vehicle back (the attempt
    stays recorded). Raises ``RunNotFound``, ``VehicleNotFound``, ``RunConflict``.
    """
    vehicle = Vehicle.objects.filter(pk=vehicle_id).first()
    if vehicle is None:
        raise VehicleNotFound(vehicle_id)
    client = get_redis()
    images: list[hot_state.HotStateImage] = []
    details: dict = {REQUESTED_VEHICLE: vehicle.pk}
    try:
        with transaction.atomic():
            _set_lock_timeout()
            run = Run.objects.select_for_update(of=("self",), no_key=True)
            run = run.select_related("vehicle").filter(pk=run_id).first()
            if run is None:
                raise RunNotFound(str(run_id))
            previous = run.vehicle
            details["previous_vehicle_id"] = previous.pk
            # Whether to move the row before the decision; the decision's guard judges the
            # same holders from its snapshot (``run_snapshot_build``).
            holders = claim_holders(run.pk, vehicle_id=vehicle.pk)
            may_move = (
                not holders
                and previous.pk != vehicle.pk
                and actor.role in VEHICLE_CHANGE_ROLES
                and (run.state, RunEvent.CHANGE_VEHICLE) in TRANSITION_BY_KEY
            )
            if may_move:
                # Both vehicles' keys, to put back if the change does not commit.
                images.append(hot_state.capture(client, run))
                moved = Run(
                    pk=run.pk,
                    vehicle_id=vehicle.pk,
                    trip_id=run.trip_id,
                    operator_id=run.operator_id,
                )
                images.append(hot_state.capture(client, moved))
                Run.objects.filter(pk=run.pk).update(vehicle=vehicle)
            outcome = run_event_apply(
                run_id=run.pk, event=RunEvent.CHANGE_VEHICLE, details=details, actor=actor
            )
            if may_move and not outcome.decision.accepted:
                Run.objects.filter(pk=run.pk).update(vehicle=previous)
            elif may_move:
                hot_state.vehicle_claim_release(client, previous.pk, str(run.pk))
    except OperationalError as error:
        _restore(client, images)
        if _is_lock_timeout(error):
            _record_conflict(run_id, RunEvent.CHANGE_VEHICLE, actor, details)
            raise RunConflict("the run is being changed by another request") from error
        raise
    except IntegrityError as error:
        # Another run claimed the vehicle between the look and the update.
        _restore(client, images)
        _record_conflict(run_id, RunEvent.CHANGE_VEHICLE, actor, details)
        raise RunConflict("another run holds this vehicle") from error
    except BaseException:
        _restore(client, images)
        raise
    return outcome


def _restore(client: redis.Redis, images: list[hot_state.HotStateImage]) -> None:
    # The new vehicle's image first: the run's own keys end as the old image has them.
    for image in reversed(images):
        hot_state.restore(client, image)


# --- hot state -----------------------------------------------------------------------


def operation_record(operation: TripOperation, tz: ZoneInfo) -> contract.TripOperationRecord:
    """The operation as ``keys.TRIP_OPERATIONS`` holds it (times in ``tz``'s service day)."""
    return contract.TripOperationRecord(
        operation_id=str(operation.pk),
        kind=contract.TripOperationKind(operation.kind),
        trip_id=operation.trip_id,
        start_date=operation.start_date.strftime("%Y%m%d"),
        active_from=int(operation.active_from.timestamp()),
        active_until=int(operation.active_until.timestamp()),
        route_id=operation.route_id,
        direction_id=operation.direction_id,
        start_time=operation.start_time,
        vehicle_id=operation.vehicle_id or "",
        stop_times=_added_stop_times(operation, tz),
        skipped_stop_sequences=tuple(operation.skipped_stop_sequences),
    )


def trip_operations_sync(client: redis.Redis | None = None, *, now: float | None = None) -> int:
    """Write ``keys.TRIP_OPERATIONS`` whole from PostgreSQL: every operation neither ended
    nor past its ``active_until`` (and the metadata of the added trips' vehicles). One
    MULTI/EXEC; returns how many records it holds."""
    client = client or get_redis()
    now = time.time() if now is None else now
    operations = list(
        TripOperation.objects.filter(
            ended_at__isnull=True, active_until__gt=_utc(now)
        ).select_related("vehicle")
    )
    # The feed only when there is something to publish: the rebuild's queries stay few.
    feed = schedule.current_feed_get() if operations else None
    tz = ZoneInfo(feed.timezone) if feed is not None else None
    pipe = client.pipeline(transaction=True)
    pipe.delete(keys.TRIP_OPERATIONS)
    written = 0
    for operation in operations if tz is not None else ():
        written += _write(pipe, operation, tz)
    pipe.execute()
    return written


def _publish(operation_id: int) -> None:
    """After commit: the operation's record, or its removal once ended."""
    operation = TripOperation.objects.select_related("vehicle").filter(pk=operation_id).first()
    feed = schedule.current_feed_get()
    client = get_redis()
    if operation is None or operation.ended_at is not None or feed is None:
        client.hdel(keys.TRIP_OPERATIONS, str(operation_id))
        return
    pipe = client.pipeline(transaction=True)
    _write(pipe, operation, ZoneInfo(feed.timezone))
    pipe.execute()


def _write(pipe, operation: TripOperation, tz: ZoneInfo) -> bool:
    """Queue the operation's record (and its vehicle's metadata: the VehicleDescriptor of an
    added trip comes from it); False if the record cannot be published."""
    text = _encoded(operation, tz)
    if text is None:
        return False
    pipe.hset(keys.TRIP_OPERATIONS, str(operation.pk), text)
    if operation.vehicle is not None:
        hot_state.vehicle_metadata_write(pipe, operation.vehicle)
    return True


def _encoded(operation: TripOperation, tz: ZoneInfo) -> str | None:
    try:
        return contract.encode(operation_record(operation, tz))
    except (ValueError, FieldError) as error:  # checked when created: only a changed GTFS
        logger.warning("trip operation %s not published: %s", operation.pk, error)
        return None


def _added_stop_times(operation: TripOperation, tz: ZoneInfo) -> tuple[contract.AddedStopTime, ...]:
    """An added trip's stop times as instants (raises ``FieldError`` on an unreadable time)."""
    origin = service_day_origin(operation.start_date, tz).timestamp()
    return tuple(
        contract.AddedStopTime(
            stop_sequence=stop["stop_sequence"],
            stop_id=stop["stop_id"],
            arrival=int(origin + parse_time(stop["arrival_time"])),
            departure=int(origin + parse_time(stop["departure_time"])),
        )
        for stop in operation.stop_times
    )


# --- shared steps --------------------------------------------------------------------


def _attempt(
    actor: Actor, step: Step, payload: dict, perform: Callable[[], TripOperation]
) -> OperationOutcome:
    """Perform one operation in a transaction and record the attempt, accepted or refused."""
    try:
        if actor.role not in WRITE_ROLES:
            raise _Refused(Refusal.FORBIDDEN, {NON_FIELD: "only dispatchers change trips"})
        with transaction.atomic():
            operation = perform()
            attempt = _record(actor, step, payload, operation)
            transaction.on_commit(partial(_publish, operation.pk), robust=True)
        return OperationOutcome(attempt, operation)
    except _Refused as refused:
        operation_id = payload.get("operation_id")
        operation = TripOperation.objects.filter(pk=operation_id).first() if operation_id else None
        attempt = _record(actor, step, payload, operation, refused)
        return OperationOutcome(attempt, None, refused.refusal, refused.errors)
    except IntegrityError:
        # The one-open-operation constraints: a concurrent request took the trip that day.
        refused = _Refused(Refusal.CONFLICT, {"trip_id": "another operation on this trip won"})
        attempt = _record(actor, step, payload, None, refused)
        return OperationOutcome(attempt, None, refused.refusal, refused.errors)


def _record(
    actor: Actor,
    step: Step,
    payload: dict,
    operation: TripOperation | None,
    refused: _Refused | None = None,
) -> TripOperationAttempt:
    reason = ""
    if refused is not None:
        reason = "; ".join(
            f"{name}: {message}" if name != NON_FIELD else message
            for name, messages in refused.errors.items()
            for message in messages
        )
    return TripOperationAttempt.objects.create(
        operation=operation,
        action=step,
        accepted=refused is None,
        refusal="" if refused is None else refused.refusal.value,
        reason=reason,
        actor_id=actor.user_id,
        actor_role=actor.role.value,
        payload=payload,
        created_at=dt.datetime.now(dt.UTC),
    )


def _end(actor: Actor, operation_id: int, kinds: tuple[str, ...], wrong_kind: str) -> TripOperation:
    operation = TripOperation.objects.select_for_update().filter(pk=operation_id).first()
    if operation is None:
        raise _Refused(Refusal.NOT_FOUND, {NON_FIELD: "no such trip operation"})
    if operation.kind not in kinds:
        raise _Refused(Refusal.INVALID, {NON_FIELD: wrong_kind})
    if operation.ended_at is not None:
        raise _Refused(Refusal.CONFLICT, {NON_FIELD: "the operation has ended already"})
    operation.ended_at = _now()
    operation.ended_by_id = actor.user_id
    operation.save(update_fields=["ended_at", "ended_by"])
    if operation.alert_id is not None:
        _detour_alert_end(actor, operation.alert_id)
    return operation


def _current_feed() -> Feed:
    feed = schedule.current_feed_get()
    if feed is None:
        raise _Refused(Refusal.INVALID, {"trip_id": "no GTFS feed is current"})
    return feed


def _trip_running_on(trip_id: str, start_date: dt.date) -> tuple[Feed, ScheduledTrip]:
    """The current feed and the trip, which must run on ``start_date`` in it."""
    feed = _current_feed()
    trip = schedule.scheduled_trip_get(trip_id, feed=feed)
    if trip is None:
        raise _Refused(
            Refusal.INVALID, {"trip_id": f"unknown trip {trip_id!r} in the current GTFS"}
        )
    if trip.service_id not in schedule.services_on(feed=feed, date=start_date):
        raise _Refused(
            Refusal.INVALID,
            {"start_date": f"trip {trip_id!r} does not run on {start_date.isoformat()}"},
        )
    return feed, trip


def _after_trip(trip: ScheduledTrip, start_date: dt.date, start_time: str) -> dt.datetime:
    """The trip's scheduled end on ``start_date`` plus ``CANCELED_TRIP_PUBLISH_MARGIN_S``."""
    end = schedule.trip_instance_end_get(trip.trip_id, start_date, start_time)
    if end is None:
        raise _Refused(Refusal.INVALID, {"trip_id": "the trip has no stop times"})
    return end.astimezone(dt.UTC) + dt.timedelta(seconds=settings.CANCELED_TRIP_PUBLISH_MARGIN_S)


def _scheduled_trip_operation(
    kind: Kind, actor: Actor, feed, trip, start_date: dt.date, until, **fields
) -> TripOperation:
    """An operation on a scheduled trip of ``start_date``, from now until ``until`` (bounded
    by the trip's end plus the margin: ``_bound``)."""
    now = _now()
    return TripOperation.objects.create(
        kind=kind,
        trip_id=trip.trip_id,
        start_date=start_date,
        start_time=trip.start_time,
        route_id=trip.route_id,
        direction_id=trip.direction_id,
        active_from=now,
        active_until=_bound(until, _after_trip(trip, start_date, trip.start_time), now),
        created_by_id=actor.user_id,
        feed_version=str(feed.pk),
        **fields,
    )


def _bound(until: dt.datetime | None, latest: dt.datetime, now: dt.datetime) -> dt.datetime:
    """``until`` as given (no later than ``latest``: the trip is over by then, and its
    cancellation or skip tells riders nothing more), or ``latest``."""
    if until is not None and until > latest:
        raise _Refused(
            Refusal.INVALID,
            {"until": f"at the latest the trip's end plus the margin, {latest.isoformat()}"},
        )
    active_until = until or latest
    _check_until(active_until, now)
    return active_until


def _check_until(until: dt.datetime, now: dt.datetime, field_name: str = "until") -> None:
    if until <= now:
        raise _Refused(
            Refusal.INVALID, {field_name: "the operation would end before it starts (in the past)"}
        )


def _open(kind: str, trip_id: str, start_date: dt.date):
    return TripOperation.objects.filter(
        kind=kind, trip_id=trip_id, start_date=start_date, ended_at__isnull=True
    )


def _close_lapsed(trip_id: str, start_date: dt.date) -> None:
    """Operations on the trip that day past their time bound end there (no one ended them)."""
    now = _now()
    for operation in TripOperation.objects.filter(
        trip_id=trip_id, start_date=start_date, ended_at__isnull=True, active_until__lte=now
    ):
        operation.ended_at = operation.active_until
        operation.save(update_fields=["ended_at"])


def _detour_alert_create(actor: Actor, operation: TripOperation, trip: ScheduledTrip) -> int:
    """The DETOUR alert of a skip: the trip on its day, and each skipped stop of it, for as
    long as the skip is published (``alerts.services``; created in this transaction)."""
    skipped = [
        stop for stop in trip.stops if stop.stop_sequence in operation.skipped_stop_sequences
    ]
    feed = schedule.current_feed_get()
    names = dict(
        schedule.stop_list(feed=feed)
        .filter(stop_id__in=[stop.stop_id for stop in skipped])
        .values_list("stop_id", "name")
    )
    day = operation.start_date
    header = f"Detour: trip {trip.trip_id} on {day.isoformat()} does not serve " + ", ".join(
        names.get(stop.stop_id) or stop.stop_id for stop in skipped
    )
    entities = (
        InformedEntity(trip_id=trip.trip_id, trip_start_date=day),
        *(
            InformedEntity(trip_id=trip.trip_id, trip_start_date=day, stop_id=stop.stop_id)
            for stop in skipped
        ),
    )
    try:
        alert = alert_create(
            actor=actor,
            data=AlertInput(
                header=(Translation(DEFAULT_LANGUAGE, header[:200]),),
                informed_entities=entities,
                active_periods=(
                    ActivePeriod(start=operation.active_from, end=operation.active_until),
                ),
                effect="DETOUR",
            ),
        )
    except AlertInvalid as error:
        raise _Refused(Refusal.INVALID, {"detour_alert": str(error.errors)}) from error
    except PermissionError as error:  # alerts are a dispatcher's (not the system's)
        raise _Refused(Refusal.FORBIDDEN, {"detour_alert": str(error)}) from error
    return alert.pk


def _detour_alert_end(actor: Actor, alert_id: int) -> None:
    """The skip's DETOUR alert ends with it (one a dispatcher ended already stays so)."""
    try:
        alert_end(actor=actor, alert_id=alert_id)
    except AlertNotFound:
        logger.warning("trip operation's detour alert %s is gone", alert_id)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _utc(posix: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(posix, dt.UTC)


def _iso(value: dt.datetime | None) -> str | None:
    return None if value is None else value.isoformat()
