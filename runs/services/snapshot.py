"""Build the frozen ``RunSnapshot`` a lifecycle decision is made from.

Reads the run row (already locked by the caller), the other runs claiming its
resources (database: the durable claims), its trip in the current feed, its
geometry and its vehicle's latest telemetry (hot state). Only what the event's
guards need is fetched.
"""

from __future__ import annotations

import redis

from runs.domain.lifecycle.events import RunEvent
from runs.domain.lifecycle.guards import Guard
from runs.domain.lifecycle.snapshot import ClaimHolders, RunSnapshot
from runs.domain.lifecycle.states import CLAIMING_STATES
from runs.domain.lifecycle.table import TRANSITION_BY_KEY
from runs.models import Run
from runs.services import schedule, telemetry

_SCHEDULE_GUARDS = {Guard.GTFS_VALID, Guard.SHORT_TURN_STOP_VALID}
_CLAIM_GUARDS = {Guard.RESOURCES_UNCLAIMED}
_TELEMETRY_GUARDS = {
    Guard.VEHICLE_TRACKED,
    Guard.VEHICLE_MOVING,
    Guard.TELEMETRY_STALE,
    Guard.TELEMETRY_FRESH,
    Guard.TELEMETRY_EXPIRED,
    Guard.AT_TERMINAL_STOP,
}


def claim_holders_get(run: Run) -> ClaimHolders:
    """Other runs in a claiming state that hold this run's vehicle, trip or operator."""
    others = Run.objects.exclude(pk=run.pk).filter(
        run_lifecycle_state__in=[s.value for s in CLAIMING_STATES]
    )

    def holders(**lookup) -> tuple[str, ...]:
        return tuple(str(pk) for pk in others.filter(**lookup).values_list("pk", flat=True))

    return ClaimHolders(
        vehicle=holders(vehicle_id=run.vehicle_id),
        trip=holders(trip_id=run.trip_id),
        operator=holders(operator_id=run.operator_id) if run.operator_id else (),
    )


def run_snapshot_build(run: Run, event: RunEvent, client: redis.Redis) -> RunSnapshot:
    transition = TRANSITION_BY_KEY.get((run.state, event))
    needed = set(transition.guards) if transition else set()
    scheduled = (
        schedule.scheduled_trip_facts_get(run.trip_id) if needed & _SCHEDULE_GUARDS else None
    )
    claims = claim_holders_get(run) if needed & _CLAIM_GUARDS else ClaimHolders()
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
    )
