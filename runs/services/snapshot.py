"""Build the frozen ``RunSnapshot`` a lifecycle decision is made from.

Reads the run row (already locked by the caller), the other runs claiming its
resources (database: the durable claims), its trip in the current feed, its
geometry and its vehicle's latest telemetry (hot state). Only what the event's
guards need is fetched.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import replace

import redis

from runs.domain.lifecycle.events import RunEvent
from runs.domain.lifecycle.guards import Guard
from runs.domain.lifecycle.snapshot import ClaimHolders, RunSnapshot
from runs.domain.lifecycle.states import CLAIMING_STATES
from runs.domain.lifecycle.table import TRANSITION_BY_KEY
from runs.models import Run, TripOperation
from runs.services import schedule, telemetry

_SCHEDULE_GUARDS = {Guard.GTFS_VALID, Guard.SHORT_TURN_STOP_VALID}
_CLAIM_GUARDS = {Guard.RESOURCES_UNCLAIMED}
_VEHICLE_CHANGE_GUARDS = {Guard.NEW_VEHICLE_UNCLAIMED}
_CANCELLATION_GUARDS = {Guard.TRIP_NOT_CANCELLED}
# ``change_vehicle`` details: the vehicle the run is to move to.
REQUESTED_VEHICLE = "vehicle_id"
_TELEMETRY_GUARDS = {
    Guard.VEHICLE_TRACKED,
    Guard.VEHICLE_MOVING,
    Guard.TELEMETRY_STALE,
    Guard.TELEMETRY_FRESH,
    Guard.TELEMETRY_EXPIRED,
    Guard.AT_TERMINAL_STOP,
}


def claim_holders(except_run, **lookup) -> tuple[str, ...]:
    """The runs in a claiming state, other than ``except_run`` (None: any), whose row
    matches ``lookup`` (``vehicle_id=...``, ``trip_id=...``, ``operator_id=...``)."""
    runs = Run.objects.filter(run_lifecycle_state__in=[s.value for s in CLAIMING_STATES], **lookup)
    if except_run is not None:
        runs = runs.exclude(pk=except_run)
    return tuple(str(pk) for pk in runs.values_list("pk", flat=True))


def claim_holders_get(run: Run) -> ClaimHolders:
    """Other runs in a claiming state that hold this run's vehicle, trip or operator."""
    return ClaimHolders(
        vehicle=claim_holders(run.pk, vehicle_id=run.vehicle_id),
        trip=claim_holders(run.pk, trip_id=run.trip_id),
        operator=claim_holders(run.pk, operator_id=run.operator_id) if run.operator_id else (),
    )


def trip_cancelled_get(run: Run) -> bool:
    """A dispatcher's cancellation of the run's trip that service day is in force now."""
    now = dt.datetime.now(dt.UTC)
    return TripOperation.objects.filter(
        kind=TripOperation.Kind.CANCEL,
        trip_id=run.trip_id,
        start_date=run.start_date,
        ended_at__isnull=True,
        active_from__lte=now,
        active_until__gt=now,
    ).exists()


def run_snapshot_build(
    run: Run, event: RunEvent, client: redis.Redis, details: Mapping[str, object] | None = None
) -> RunSnapshot:
    """``details``: the event's; a change of vehicle names the vehicle asked for, whose
    other holders the snapshot then carries (never taken from the details themselves)."""
    transition = TRANSITION_BY_KEY.get((run.state, event))
    needed = set(transition.guards) if transition else set()
    scheduled = (
        schedule.scheduled_trip_facts_get(run.trip_id) if needed & _SCHEDULE_GUARDS else None
    )
    claims = claim_holders_get(run) if needed & _CLAIM_GUARDS else ClaimHolders()
    if needed & _VEHICLE_CHANGE_GUARDS:
        # The vehicle asked for; none named: the run's own (the service may already have
        # moved the row to the new vehicle, under the lock, before the decision).
        requested = (details or {}).get(REQUESTED_VEHICLE) or run.vehicle_id
        claims = replace(claims, requested_vehicle=claim_holders(run.pk, vehicle_id=str(requested)))
    latest = telemetry.RunTelemetry(position=None, last_seen=None, progressed_m=None)
    geometry = None
    if needed & _TELEMETRY_GUARDS:
        latest = telemetry.vehicle_telemetry_get(
            client, vehicle_id=run.vehicle_id, run_id=str(run.pk)
        )
    if Guard.AT_TERMINAL_STOP in needed:
        geometry = schedule.trip_geometry_facts_get(run.trip_id)
    return RunSnapshot(
        run_id=str(run.pk),
        state=run.state,
        vehicle_id=run.vehicle_id,
        operator_id=None if run.operator_id is None else str(run.operator_id),
        route_id=run.route_id,
        trip_id=run.trip_id,
        shape_id=run.shape_id,
        direction_id=run.direction_id,
        scheduled_trip=scheduled,
        claims=claims,
        position=latest.position,
        last_seen=latest.last_seen,
        geometry=geometry,
        progressed_m=latest.progressed_m,
        trip_cancelled=trip_cancelled_get(run) if needed & _CANCELLATION_GUARDS else False,
    )
