"""Contract of `run:{rid}:congestion_level`: the traffic the run's vehicle is in.

Written by the progression producer; read by the VehiclePositions feed builder.
Mirrors GTFS-RT ``VehiclePosition.congestion_level``. Pure.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum

import msgspec

from runs.domain.telemetry.fields import StoredFields, StoredRead, check_timestamp, require
from runs.domain.telemetry.rejection import RejectReason, TelemetryRejected

CONGESTION_LEVEL = "congestion_level"
TIMESTAMP = "timestamp"
FIELDS = (CONGESTION_LEVEL, TIMESTAMP)


class CongestionLevelCode(StrEnum):
    """GTFS-RT CongestionLevel."""

    UNKNOWN_CONGESTION_LEVEL = "UNKNOWN_CONGESTION_LEVEL"
    RUNNING_SMOOTHLY = "RUNNING_SMOOTHLY"
    STOP_AND_GO = "STOP_AND_GO"
    CONGESTION = "CONGESTION"
    SEVERE_CONGESTION = "SEVERE_CONGESTION"


class CongestionLevel(msgspec.Struct, frozen=True):
    congestion_level: CongestionLevelCode
    timestamp: int


def validate_for_write(level: CongestionLevel) -> dict[str, str]:
    """Strict: the hash fields; raises ``TelemetryRejected`` on a missing or invalid value."""
    code = require(CONGESTION_LEVEL, level.congestion_level)
    if code not in CongestionLevelCode.__members__.values():
        raise TelemetryRejected(RejectReason.INVALID_VALUE, f"{CONGESTION_LEVEL} {code!r}")
    return {
        CONGESTION_LEVEL: CongestionLevelCode(code).value,
        TIMESTAMP: str(check_timestamp(require(TIMESTAMP, level.timestamp))),
    }


def from_redis(fields: Mapping[str, str]) -> CongestionLevel | None:
    """Tolerant: None without a timestamp; an unknown level reads as UNKNOWN_CONGESTION_LEVEL."""
    return read_stored(fields).value


def read_stored(fields: Mapping[str, str]) -> StoredRead[CongestionLevel]:
    """``from_redis`` that also names the stored fields it could not use."""
    stored = StoredFields(fields)
    timestamp = stored.timestamp(TIMESTAMP)
    try:
        code = CongestionLevelCode(fields.get(CONGESTION_LEVEL, ""))
    except ValueError:
        stored.mark_bad(CONGESTION_LEVEL)
        code = CongestionLevelCode.UNKNOWN_CONGESTION_LEVEL
    if timestamp is None:
        return stored.result(None)
    return stored.result(CongestionLevel(congestion_level=code, timestamp=timestamp))
