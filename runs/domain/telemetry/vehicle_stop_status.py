"""Contract of `run:{rid}:vehicle_stop_status`: where the run's vehicle is relative to its stops.

Written by the progression producer (map-matching); read by feed builders,
the REST API and detectors. Mirrors GTFS-RT ``VehiclePosition.current_status``,
``current_stop_sequence`` and ``stop_id``. Pure.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum

import msgspec

from runs.domain.telemetry.fields import (
    StoredFields,
    StoredRead,
    check_range,
    check_timestamp,
    require,
)
from runs.domain.telemetry.limits import STOP_SEQUENCE_RANGE
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
    check_range(
        CURRENT_STOP_SEQUENCE,
        status.current_stop_sequence,
        STOP_SEQUENCE_RANGE,
        RejectReason.INVALID_VALUE,
    )
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
    return read_stored(fields).value


def read_stored(fields: Mapping[str, str]) -> StoredRead[VehicleStopStatus]:
    """``from_redis`` that also names the stored fields it could not use."""
    stored = StoredFields(fields)
    timestamp = stored.timestamp(TIMESTAMP)
    sequence = stored.integer(CURRENT_STOP_SEQUENCE, STOP_SEQUENCE_RANGE)
    try:
        code = StopStatusCode(fields.get(CURRENT_STATUS, ""))
    except ValueError:
        stored.mark_bad(CURRENT_STATUS)
        return stored.result(None)
    if timestamp is None:
        return stored.result(None)
    return stored.result(
        VehicleStopStatus(
            current_status=code,
            timestamp=timestamp,
            current_stop_sequence=sequence,
            stop_id=stored.text(STOP_ID),
        )
    )
