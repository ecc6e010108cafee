"""Contract of `run:{rid}:vehicle_stop_status`: where the run's vehicle is relative to its stops.

Written by the progression producer (map-matching); read by feed builders,
the REST API and detectors. Mirrors GTFS-RT ``VehiclePosition.current_status``,
``current_stop_sequence`` and ``stop_id``. Pure.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum

import msgspec

from runs.domain.telemetry.fields import check_timestamp, parse_int, require
from runs.domain.telemetry.rejection import RejectReason, TelemetryRejected

CURRENT_STATUS = "current_status"
CURRENT_STOP_SEQUENCE = "current_stop_sequence"
STOP_ID = "stop_id"
TIMESTAMP = "timestamp"
FIELDS = (CURRENT_STATUS, CURRENT_STOP_SEQUENCE, STOP_ID, TIMESTAMP)


class StopStatusCode(StrEnum):
    """GTFS-RT VehicleStopStatus."""

    INCOMING_AT = "INCOMING_AT"
    STOPPED_AT = "STOPPED_AT"
    IN_TRANSIT_TO = "IN_TRANSIT_TO"


class VehicleStopStatus(msgspec.Struct, frozen=True):
    current_status: StopStatusCode
    timestamp: int
    current_stop_sequence: int | None = None
    stop_id: str | None = None


def validate_for_write(status: VehicleStopStatus) -> dict[str, str]:
    """Strict: the hash fields; raises ``TelemetryRejected`` on a missing or invalid value."""
    code = require(CURRENT_STATUS, status.current_status)
    if code not in StopStatusCode.__members__.values():
        raise TelemetryRejected(RejectReason.INVALID_VALUE, f"{CURRENT_STATUS} {code!r}")
    if status.current_stop_sequence is not None and status.current_stop_sequence < 0:
        raise TelemetryRejected(RejectReason.INVALID_VALUE, f"{CURRENT_STOP_SEQUENCE} < 0")
    if status.current_stop_sequence is None and not status.stop_id:
        raise TelemetryRejected(
            RejectReason.MISSING_FIELD, f"{CURRENT_STOP_SEQUENCE} or {STOP_ID} is required"
        )
    fields = {
        CURRENT_STATUS: StopStatusCode(code).value,
        TIMESTAMP: str(check_timestamp(require(TIMESTAMP, status.timestamp))),
    }
    if status.current_stop_sequence is not None:
        fields[CURRENT_STOP_SEQUENCE] = str(status.current_stop_sequence)
    if status.stop_id:
        fields[STOP_ID] = status.stop_id
    return fields


def from_redis(fields: Mapping[str, str]) -> VehicleStopStatus | None:
    """Tolerant: None without a known status and a timestamp; bad optionals dropped."""
    timestamp = parse_int(fields.get(TIMESTAMP))
    try:
        code = StopStatusCode(fields.get(CURRENT_STATUS, ""))
    except ValueError:
        return None
    if timestamp is None:
        return None
    sequence = parse_int(fields.get(CURRENT_STOP_SEQUENCE))
    return VehicleStopStatus(
        current_status=code,
        timestamp=timestamp,
        current_stop_sequence=sequence if sequence is not None and sequence >= 0 else None,
        stop_id=fields.get(STOP_ID) or None,
    )
