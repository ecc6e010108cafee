"""Guards: named pure predicates over (RunSnapshot, EventContext).

Each guard answers ``True`` (passes) or ``False`` (refuses); ``GUARDS`` maps each
name to its predicate and to the reason shown when it refuses. The transition table
refers to guards by ``Guard`` name only.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from runs.domain.lifecycle import conditions
from runs.domain.lifecycle.roles import ActorRole
from runs.domain.lifecycle.snapshot import EventContext, RunSnapshot


class Guard(StrEnum):
    ACTOR_MAY_ACT_ON_RUN = "actor_may_act_on_run"
    GTFS_VALID = "gtfs_valid"
    RESOURCES_UNCLAIMED = "resources_unclaimed"
    CANCELLATION_AUTHORIZED = "cancellation_authorized"
    INTERRUPTION_AUTHORIZED = "interruption_authorized"
    SHORT_TURN_AUTHORIZED = "short_turn_authorized"
    SHORT_TURN_STOP_VALID = "short_turn_stop_valid"
    VEHICLE_TRACKED = "vehicle_tracked"
    VEHICLE_MOVING = "vehicle_moving"
    TELEMETRY_STALE = "telemetry_stale"
    TELEMETRY_FRESH = "telemetry_fresh"
    TELEMETRY_EXPIRED = "telemetry_expired"
    AT_TERMINAL_STOP = "at_terminal_stop"
    VEHICLE_CHANGE_AUTHORIZED = "vehicle_change_authorized"
    NEW_VEHICLE_UNCLAIMED = "new_vehicle_unclaimed"
    TRIP_NOT_CANCELLED = "trip_not_cancelled"


Predicate = Callable[[RunSnapshot, EventContext], bool]

CANCELLATION_ROLES = frozenset({ActorRole.SYSTEM, ActorRole.DISPATCHER, ActorRole.OPERATOR})
INTERRUPTION_ROLES = frozenset({ActorRole.SYSTEM, ActorRole.DISPATCHER, ActorRole.OPERATOR})
SHORT_TURN_ROLES = frozenset({ActorRole.SYSTEM, ActorRole.DISPATCHER})
VEHICLE_CHANGE_ROLES = frozenset({ActorRole.SYSTEM, ActorRole.DISPATCHER})


def actor_may_act_on_run(snapshot: RunSnapshot, context: EventContext) -> bool:
    """Operators act only on the runs they operate; system and dispatchers on any run."""
    return context.actor_role != ActorRole.OPERATOR or context.actor_operates_run


def gtfs_valid(snapshot: RunSnapshot, context: EventContext) -> bool:
    """The trip is in the current feed with the run's route, shape and direction."""
    trip = snapshot.scheduled_trip
    return (
        trip is not None
        and trip.trip_id == snapshot.trip_id
        and trip.route_id == snapshot.route_id
        and trip.shape_id == snapshot.shape_id
        and trip.direction_id == snapshot.direction_id
    )


def resources_unclaimed(snapshot: RunSnapshot, context: EventContext) -> bool:
    """No other run holds the vehicle, the trip or the operator."""
    claims = snapshot.claims
    return not (claims.vehicle or claims.trip or claims.operator)


def cancellation_authorized(snapshot: RunSnapshot, context: EventContext) -> bool:
    return context.actor_role in CANCELLATION_ROLES


def interruption_authorized(snapshot: RunSnapshot, context: EventContext) -> bool:
    return context.actor_role in INTERRUPTION_ROLES


def short_turn_authorized(snapshot: RunSnapshot, context: EventContext) -> bool:
    return context.actor_role in SHORT_TURN_ROLES


def short_turn_stop_valid(snapshot: RunSnapshot, context: EventContext) -> bool:
    """``details.stop_id`` is a stop of the trip, and not its terminal."""
    trip = snapshot.scheduled_trip
    stop_id = context.details.get("stop_id")
    if trip is None or not trip.stop_ids or not isinstance(stop_id, str):
        return False
    return stop_id in trip.stop_ids[:-1]


def vehicle_tracked(snapshot: RunSnapshot, context: EventContext) -> bool:
    """The vehicle has reported fresh telemetry."""
    return conditions.is_fresh(snapshot.last_seen, context.now, context.thresholds)


def vehicle_moving(snapshot: RunSnapshot, context: EventContext) -> bool:
    return conditions.is_moving(snapshot.position, context.thresholds)


def telemetry_stale(snapshot: RunSnapshot, context: EventContext) -> bool:
    return conditions.is_stale(snapshot.last_seen, context.now, context.thresholds)


def telemetry_fresh(snapshot: RunSnapshot, context: EventContext) -> bool:
    return conditions.is_fresh(snapshot.last_seen, context.now, context.thresholds)


def telemetry_expired(snapshot: RunSnapshot, context: EventContext) -> bool:
    return conditions.has_expired(snapshot.last_seen, context.now, context.thresholds)


def at_terminal_stop(snapshot: RunSnapshot, context: EventContext) -> bool:
    return conditions.terminal_reached(
        snapshot.geometry, snapshot.position, context.thresholds, snapshot.progressed_m
    )


def vehicle_change_authorized(snapshot: RunSnapshot, context: EventContext) -> bool:
    return context.actor_role in VEHICLE_CHANGE_ROLES


def new_vehicle_unclaimed(snapshot: RunSnapshot, context: EventContext) -> bool:
    """No other claiming run holds the vehicle the run moves to.

    The partial unique index on claiming runs' vehicles is the durable check; this one
    records the refusal with its reason instead of a bare conflict."""
    return not snapshot.claims.requested_vehicle


def trip_not_cancelled(snapshot: RunSnapshot, context: EventContext) -> bool:
    """No dispatcher's cancellation of the run's trip that day is in force: a driver
    signing on to a trip cancelled ahead would publish it as running and cancelled."""
    return not snapshot.trip_cancelled


@dataclass(frozen=True, slots=True)
class GuardSpec:
    predicate: Predicate
    refusal: str  # why the event is refused when the predicate is False
    authorization: bool = False  # a refusal by this guard is a 403, not a 422


GUARDS: dict[Guard, GuardSpec] = {
    Guard.ACTOR_MAY_ACT_ON_RUN: GuardSpec(
        actor_may_act_on_run, "operators may act only on runs they operate", authorization=True
    ),
    Guard.GTFS_VALID: GuardSpec(
        gtfs_valid, "route, trip, shape or direction do not match the current feed"
    ),
    Guard.RESOURCES_UNCLAIMED: GuardSpec(
        resources_unclaimed, "the vehicle, trip or operator is claimed by another run"
    ),
    Guard.CANCELLATION_AUTHORIZED: GuardSpec(
        cancellation_authorized, "this role may not cancel a run", authorization=True
    ),
    Guard.INTERRUPTION_AUTHORIZED: GuardSpec(
        interruption_authorized, "this role may not interrupt a run", authorization=True
    ),
    Guard.SHORT_TURN_AUTHORIZED: GuardSpec(
        short_turn_authorized, "only dispatchers may short-turn a run", authorization=True
    ),
    Guard.SHORT_TURN_STOP_VALID: GuardSpec(
        short_turn_stop_valid, "details.stop_id must be a stop of the trip other than its terminal"
    ),
    Guard.VEHICLE_TRACKED: GuardSpec(vehicle_tracked, "the vehicle has no fresh telemetry"),
    Guard.VEHICLE_MOVING: GuardSpec(vehicle_moving, "the vehicle is not moving"),
    Guard.TELEMETRY_STALE: GuardSpec(telemetry_stale, "the vehicle's telemetry is still fresh"),
    Guard.TELEMETRY_FRESH: GuardSpec(telemetry_fresh, "the vehicle's telemetry is stale"),
    Guard.TELEMETRY_EXPIRED: GuardSpec(
        telemetry_expired, "the vehicle's telemetry has not been missing long enough to expire"
    ),
    Guard.AT_TERMINAL_STOP: GuardSpec(
        at_terminal_stop, "the vehicle's position is not at the trip's terminal stop"
    ),
    Guard.VEHICLE_CHANGE_AUTHORIZED: GuardSpec(
        vehicle_change_authorized, "only dispatchers may change a run's vehicle", authorization=True
    ),
    Guard.NEW_VEHICLE_UNCLAIMED: GuardSpec(
        new_vehicle_unclaimed, "the new vehicle is claimed by another run"
    ),
    Guard.TRIP_NOT_CANCELLED: GuardSpec(
        trip_not_cancelled, "a dispatcher has cancelled this trip for the day"
    ),
}
