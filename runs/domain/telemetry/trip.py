"""Contract of `run:{rid}:trip`: the run's GTFS-RT TripDescriptor projection.

Written by lifecycle actions (initialize, cancel); read by feed builders, the
REST API and WebSocket snapshots. Pure.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from enum import StrEnum

import msgspec

from runs.domain.telemetry.fields import StoredFields, StoredRead, require
from runs.domain.telemetry.rejection import RejectReason, TelemetryRejected

TRIP_ID = "trip_id"
ROUTE_ID = "route_id"
DIRECTION_ID = "direction_id"
START_TIME = "start_time"
START_DATE = "start_date"
SCHEDULE_RELATIONSHIP = "schedule_relationship"
FIELDS = (TRIP_ID, ROUTE_ID, DIRECTION_ID, START_TIME, START_DATE, SCHEDULE_RELATIONSHIP)

# GTFS times may pass 24:00:00 for trips after midnight of the service day.
_START_TIME = re.compile(r"\d{1,2}:[0-5]\d:[0-5]\d")
_START_DATE = re.compile(r"\d{8}")


def _is_start_date(text: str) -> bool:
    """YYYYMMDD naming a calendar day (20261340 is eight digits, and no date)."""
    if not _START_DATE.fullmatch(text):
        return False
    try:
        dt.date(int(text[:4]), int(text[4:6]), int(text[6:]))
    except ValueError:
        return False
    return True


class ScheduleRelationship(StrEnum):
    """GTFS-RT TripDescriptor.ScheduleRelationship values databus produces."""

    SCHEDULED = "SCHEDULED"
    ADDED = "ADDED"
    UNSCHEDULED = "UNSCHEDULED"
    CANCELED = "CANCELED"
    DUPLICATED = "DUPLICATED"


class TripDescriptor(msgspec.Struct, frozen=True):
    trip_id: str
    route_id: str | None = None
    direction_id: int | None = None
    start_time: str | None = None
    start_date: str | None = None
    schedule_relationship: ScheduleRelationship = ScheduleRelationship.SCHEDULED


def validate_for_write(trip: TripDescriptor) -> dict[str, str]:
    """Strict: the hash fields; raises ``TelemetryRejected`` on a missing or invalid value."""
    if not require(TRIP_ID, trip.trip_id):
        raise TelemetryRejected(RejectReason.MISSING_FIELD, f"{TRIP_ID} is required")
    if trip.direction_id not in (None, 0, 1):
        raise TelemetryRejected(RejectReason.INVALID_VALUE, f"{DIRECTION_ID} must be 0 or 1")
    if trip.start_time is not None and not _START_TIME.fullmatch(trip.start_time):
        raise TelemetryRejected(RejectReason.INVALID_VALUE, f"{START_TIME} must be HH:MM:SS")
    if trip.start_date is not None and not _is_start_date(trip.start_date):
        raise TelemetryRejected(RejectReason.INVALID_VALUE, f"{START_DATE} must be YYYYMMDD")
    if trip.schedule_relationship not in ScheduleRelationship.__members__.values():
        raise TelemetryRejected(RejectReason.INVALID_VALUE, f"{SCHEDULE_RELATIONSHIP}")
    fields = {
        TRIP_ID: trip.trip_id,
        SCHEDULE_RELATIONSHIP: ScheduleRelationship(trip.schedule_relationship).value,
    }
    optional = {
        ROUTE_ID: trip.route_id,
        DIRECTION_ID: None if trip.direction_id is None else str(trip.direction_id),
        START_TIME: trip.start_time,
        START_DATE: trip.start_date,
    }
    fields.update({name: value for name, value in optional.items() if value})
    return fields


def from_redis(fields: Mapping[str, str]) -> TripDescriptor | None:
    """Tolerant: None without a trip id; bad optional values dropped."""
    return read_stored(fields).value


def read_stored(fields: Mapping[str, str]) -> StoredRead[TripDescriptor]:
    """``from_redis`` that also names the stored fields it could not use."""
    stored = StoredFields(fields)
    trip_id = stored.text(TRIP_ID)
    direction = stored.integer(DIRECTION_ID, (0, 1))
    start_time = stored.text(START_TIME)
    if start_time is not None and not _START_TIME.fullmatch(start_time):
        stored.mark_bad(START_TIME)
        start_time = None
    start_date = stored.text(START_DATE)
    if start_date is not None and not _is_start_date(start_date):
        stored.mark_bad(START_DATE)
        start_date = None
    try:
        relationship = ScheduleRelationship(fields.get(SCHEDULE_RELATIONSHIP, "SCHEDULED"))
    except ValueError:
        stored.mark_bad(SCHEDULE_RELATIONSHIP)
        relationship = ScheduleRelationship.SCHEDULED
    if trip_id is None:
        return stored.result(None)
    return stored.result(
        TripDescriptor(
            trip_id=trip_id,
            route_id=stored.text(ROUTE_ID),
            direction_id=direction,
            start_time=start_time,
            start_date=start_date,
            schedule_relationship=relationship,
        )
    )
