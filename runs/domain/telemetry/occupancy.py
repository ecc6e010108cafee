"""Contract of a vehicle's occupancy: MQTT payload, typed value, `vehicle:{vid}:occupancy` hash.

Written by the MQTT consumer; read by the REST API and feed builders. Payload
(DESIGN.md): ``occupancy_percentage`` (int, 0..300), ``occupancy_count`` (int, 0..10,000),
``timestamp``. The status is classified here, by the server, from the
percentage; an ``occupancy_status`` sent by the edge is discarded. Pure.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum

import msgspec

from runs.domain.telemetry.fields import (
    StoredFields,
    StoredRead,
    check_non_negative,
    check_range,
    check_timestamp,
    decode_json_object,
    format_number,
)
from runs.domain.telemetry.limits import OCCUPANCY_COUNT_RANGE, OCCUPANCY_PERCENTAGE_RANGE
from runs.domain.telemetry.rejection import RejectReason, TelemetryRejected

OCCUPANCY_PERCENTAGE = "occupancy_percentage"
OCCUPANCY_COUNT = "occupancy_count"
OCCUPANCY_STATUS = "occupancy_status"
TIMESTAMP = "timestamp"
RECEIVED_AT = "received_at"
FIELDS = (OCCUPANCY_PERCENTAGE, OCCUPANCY_COUNT, OCCUPANCY_STATUS, TIMESTAMP, RECEIVED_AT)


class OccupancyStatus(StrEnum):
    """GTFS-RT VehiclePosition.OccupancyStatus values databus produces."""

    NO_DATA_AVAILABLE = "NO_DATA_AVAILABLE"
    MANY_SEATS_AVAILABLE = "MANY_SEATS_AVAILABLE"
    FEW_SEATS_AVAILABLE = "FEW_SEATS_AVAILABLE"
    STANDING_ROOM_ONLY = "STANDING_ROOM_ONLY"
    FULL = "FULL"


# (percentage strictly below, status); anything at or above the last bound is FULL.
STATUS_THRESHOLDS: tuple[tuple[int, OccupancyStatus], ...] = (
    (20, OccupancyStatus.MANY_SEATS_AVAILABLE),
    (50, OccupancyStatus.FEW_SEATS_AVAILABLE),
    (80, OccupancyStatus.STANDING_ROOM_ONLY),
)


def classify(percentage: int | None) -> OccupancyStatus:
    """The server's status for an occupancy percentage (DESIGN.md)."""
    if percentage is None:
        return OccupancyStatus.NO_DATA_AVAILABLE
    for below, status in STATUS_THRESHOLDS:
        if percentage < below:
            return status
    return OccupancyStatus.FULL


class Occupancy(msgspec.Struct, frozen=True, gc=False):
    """The latest occupancy of one vehicle; ``status`` is always the server's classification."""

    vehicle_id: str
    timestamp: int
    received_at: float
    percentage: int | None = None
    count: int | None = None

    @property
    def status(self) -> OccupancyStatus:
        return classify(self.percentage)


class _Payload(msgspec.Struct, gc=False):
    occupancy_percentage: int | None = None
    occupancy_count: int | None = None
    timestamp: int | float | None = None


_decoder = msgspec.json.Decoder(_Payload)


def decode(payload: bytes, *, vehicle_id: str, received_at: float) -> Occupancy:
    """A checked Occupancy from raw MQTT bytes; raises ``TelemetryRejected``."""
    raw = decode_json_object(_decoder, payload)
    timestamp = (
        int(received_at)
        if raw.timestamp is None
        else check_timestamp(raw.timestamp, now=received_at)
    )
    occupancy = Occupancy(
        vehicle_id=vehicle_id,
        timestamp=timestamp,
        received_at=received_at,
        percentage=raw.occupancy_percentage,
        count=raw.occupancy_count,
    )
    check(occupancy)
    return occupancy


def check(occupancy: Occupancy) -> None:
    for name, value, bounds in (
        (OCCUPANCY_PERCENTAGE, occupancy.percentage, OCCUPANCY_PERCENTAGE_RANGE),
        (OCCUPANCY_COUNT, occupancy.count, OCCUPANCY_COUNT_RANGE),
    ):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
            raise TelemetryRejected(RejectReason.WRONG_TYPE, f"{name} must be an integer")
        check_non_negative(name, value, RejectReason.NEGATIVE_OCCUPANCY)
        check_range(name, value, bounds, RejectReason.OCCUPANCY_OUT_OF_RANGE)
    check_timestamp(occupancy.timestamp)


def validate_for_write(occupancy: Occupancy) -> dict[str, str]:
    """Strict: the hash fields of a valid occupancy, status classified by the server."""
    check(occupancy)
    fields = {
        OCCUPANCY_STATUS: occupancy.status.value,
        TIMESTAMP: str(occupancy.timestamp),
        RECEIVED_AT: format_number(occupancy.received_at),
    }
    if occupancy.percentage is not None:
        fields[OCCUPANCY_PERCENTAGE] = str(occupancy.percentage)
    if occupancy.count is not None:
        fields[OCCUPANCY_COUNT] = str(occupancy.count)
    return fields


def from_redis(vehicle_id: str, fields: Mapping[str, str]) -> Occupancy | None:
    """Tolerant: the stored occupancy, None without a usable timestamp."""
    return read_stored(vehicle_id, fields).value


def read_stored(vehicle_id: str, fields: Mapping[str, str]) -> StoredRead[Occupancy]:
    """``from_redis`` that also names the stored fields it could not use (a percentage or
    count outside the bounds of ``limits`` is dropped)."""
    stored = StoredFields(fields)
    timestamp = stored.timestamp(TIMESTAMP)
    received_at = stored.number(RECEIVED_AT)
    percentage = stored.integer(OCCUPANCY_PERCENTAGE, OCCUPANCY_PERCENTAGE_RANGE)
    count = stored.integer(OCCUPANCY_COUNT, OCCUPANCY_COUNT_RANGE)
    if timestamp is None:
        return stored.result(None)
    return stored.result(
        Occupancy(
            vehicle_id=vehicle_id,
            timestamp=timestamp,
            received_at=float(timestamp) if received_at is None else received_at,
            percentage=percentage,
            count=count,
        )
    )
