"""Contract of `run:{rid}`: the flat projection of a run row, lifecycle state included.

Written whole by the WRITE_PROJECTION and PUBLISH_CANCELLATION actions and, for the
fields in ``STATE_FIELDS``, by SYNC_STATE (``runs.services.hot_state``); read by
detector dispatch (in its server-side script, which takes the field names as
arguments), the stale-run scan, the WebSocket snapshot and the feed assembly.

Every field is written, an absent value as the empty string (the REST API returns the
hash as stored). The trip fields are spelled and checked as in `run:{rid}:trip`
(``runs.domain.telemetry.trip``): the run's GTFS TripDescriptor. Pure.
"""

from __future__ import annotations

from collections.abc import Mapping

import msgspec

from runs.domain.lifecycle.states import RunState
from runs.domain.telemetry import trip
from runs.domain.telemetry.fields import StoredFields, StoredRead, format_number, require
from runs.domain.telemetry.rejection import RejectReason, TelemetryRejected
from runs.domain.telemetry.trip import ScheduleRelationship

RUN_ID = "run_id"
VEHICLE_ID = "vehicle_id"
OPERATOR_ID = "operator_id"
ROUTE_ID = trip.ROUTE_ID
TRIP_ID = trip.TRIP_ID
SHAPE_ID = "shape_id"
DIRECTION_ID = trip.DIRECTION_ID
START_DATE = trip.START_DATE
START_TIME = trip.START_TIME
SCHEDULE_RELATIONSHIP = trip.SCHEDULE_RELATIONSHIP
RUN_LIFECYCLE_STATE = "run_lifecycle_state"
LAST_EVENT_AT = "last_event_at"
# In the order written (a small hash returns its fields in insertion order).
FIELDS = (
    RUN_ID,
    VEHICLE_ID,
    OPERATOR_ID,
    ROUTE_ID,
    TRIP_ID,
    SHAPE_ID,
    DIRECTION_ID,
    START_DATE,
    START_TIME,
    SCHEDULE_RELATIONSHIP,
    RUN_LIFECYCLE_STATE,
    LAST_EVENT_AT,
)
# What a state change rewrites (SYNC_STATE); the other fields never change after they
# are first written.
STATE_FIELDS = (RUN_LIFECYCLE_STATE, LAST_EVENT_AT)


class RunProjection(msgspec.Struct, frozen=True):
    """A run as hot state holds it. Read tolerantly, any field but the id may be absent;
    ``validate_for_write`` requires the vehicle, trip, start date and state."""

    run_id: str
    vehicle_id: str | None = None
    state: RunState | None = None
    trip_id: str | None = None
    route_id: str | None = None
    operator_id: str | None = None
    shape_id: str | None = None
    direction_id: int | None = None
    start_date: str | None = None  # YYYYMMDD, the service day
    start_time: str | None = None  # HH:MM:SS, may pass 24:00:00
    schedule_relationship: ScheduleRelationship = ScheduleRelationship.SCHEDULED
    last_event_at: float | None = None  # POSIX s of the last accepted event


def _trip_descriptor(projection: RunProjection) -> trip.TripDescriptor:
    return trip.TripDescriptor(
        trip_id=projection.trip_id or "",
        route_id=projection.route_id,
        direction_id=projection.direction_id,
        start_time=projection.start_time,
        start_date=projection.start_date,
        schedule_relationship=projection.schedule_relationship,
    )


def validate_for_write(projection: RunProjection) -> dict[str, str]:
    """Strict: every hash field, in ``FIELDS`` order (absent ones empty); raises
    ``TelemetryRejected`` on a missing or invalid value."""
    require(RUN_ID, projection.run_id or None)
    require(VEHICLE_ID, projection.vehicle_id or None)
    require(START_DATE, projection.start_date)
    state = require(RUN_LIFECYCLE_STATE, projection.state)
    if state not in RunState.__members__.values():
        raise TelemetryRejected(RejectReason.INVALID_VALUE, f"{RUN_LIFECYCLE_STATE} {state!r}")
    trip.validate_for_write(_trip_descriptor(projection))  # the trip fields' own rules
    last_event_at = projection.last_event_at
    values = {
        RUN_ID: projection.run_id,
        VEHICLE_ID: projection.vehicle_id,
        OPERATOR_ID: projection.operator_id,
        ROUTE_ID: projection.route_id,
        TRIP_ID: projection.trip_id,
        SHAPE_ID: projection.shape_id,
        DIRECTION_ID: None if projection.direction_id is None else str(projection.direction_id),
        START_DATE: projection.start_date,
        START_TIME: projection.start_time,
        SCHEDULE_RELATIONSHIP: ScheduleRelationship(projection.schedule_relationship).value,
        RUN_LIFECYCLE_STATE: RunState(state).value,
        LAST_EVENT_AT: None if last_event_at is None else format_number(last_event_at),
    }
    return {name: values[name] or "" for name in FIELDS}


def parse_state(text: str | None) -> RunState | None:
    """Tolerant: the lifecycle state a stored ``run_lifecycle_state`` names, or None."""
    if not text:
        return None
    try:
        return RunState(text)
    except ValueError:
        return None


def from_redis(run_id: str, fields: Mapping[str, str | None]) -> RunProjection | None:
    """Tolerant: the stored projection (bad values dropped), None when no field is stored
    (an absent hash). ``fields`` may be a subset of the hash: an HMGET of the fields a
    reader needs, None for a field not stored."""
    return read_stored(run_id, fields).value


def read_stored(run_id: str, fields: Mapping[str, str | None]) -> StoredRead[RunProjection]:
    """``from_redis`` that also names the stored fields it could not use. Without a trip id
    the trip fields read as absent, as `run:{rid}:trip` reads."""
    stored = StoredFields(fields)
    if all(value is None for value in fields.values()):
        return stored.result(None)
    state_text = stored.text(RUN_LIFECYCLE_STATE)
    state = parse_state(state_text)
    if state_text is not None and state is None:
        stored.mark_bad(RUN_LIFECYCLE_STATE)
    last_event_at = stored.number(LAST_EVENT_AT)
    on_trip = None
    if any(fields.get(name) for name in trip.FIELDS):  # a reader's HMGET may take none
        descriptor = trip.read_stored(fields)
        for name in descriptor.bad_fields:
            stored.mark_bad(name)
        on_trip = descriptor.value
    return stored.result(
        RunProjection(
            run_id=run_id,
            vehicle_id=stored.text(VEHICLE_ID),
            state=state,
            operator_id=stored.text(OPERATOR_ID),
            shape_id=stored.text(SHAPE_ID),
            last_event_at=last_event_at,
            trip_id=None if on_trip is None else on_trip.trip_id,
            route_id=None if on_trip is None else on_trip.route_id,
            direction_id=None if on_trip is None else on_trip.direction_id,
            start_date=None if on_trip is None else on_trip.start_date,
            start_time=None if on_trip is None else on_trip.start_time,
            schedule_relationship=ScheduleRelationship.SCHEDULED
            if on_trip is None
            else on_trip.schedule_relationship,
        )
    )
