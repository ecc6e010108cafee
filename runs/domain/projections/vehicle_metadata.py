"""Contract of `vehicle:{vid}:metadata`: what the GTFS-RT VehicleDescriptor says of a vehicle.

Written from the vehicle row by the WRITE_VEHICLE_METADATA action
(``runs.services.hot_state``) when a run claims the vehicle; read by the feed assembly.
Every field is written, an absent label or plate as the empty string; accessibility is
``"1"`` or ``"0"``. Pure.
"""

from __future__ import annotations

from collections.abc import Mapping

import msgspec

from runs.domain.telemetry.fields import StoredFields, StoredRead, require
from runs.domain.telemetry.rejection import RejectReason, TelemetryRejected

VEHICLE_ID = "id"
LABEL = "label"
LICENSE_PLATE = "license_plate"
WHEELCHAIR_ACCESSIBLE = "wheelchair_accessible"
FIELDS = (VEHICLE_ID, LABEL, LICENSE_PLATE, WHEELCHAIR_ACCESSIBLE)  # in the order written

_ACCESSIBLE = {True: "1", False: "0"}
_ACCESSIBLE_TEXT = {text: flag for flag, text in _ACCESSIBLE.items()}


class VehicleMetadata(msgspec.Struct, frozen=True):
    vehicle_id: str
    label: str | None = None
    license_plate: str | None = None
    wheelchair_accessible: bool | None = None  # None: not known


def validate_for_write(metadata: VehicleMetadata) -> dict[str, str]:
    """Strict: the hash fields in ``FIELDS`` order; raises ``TelemetryRejected`` without a
    vehicle id or a yes/no accessibility (the vehicle row always knows it)."""
    require(VEHICLE_ID, metadata.vehicle_id or None)
    accessible = require(WHEELCHAIR_ACCESSIBLE, metadata.wheelchair_accessible)
    if not isinstance(accessible, bool):
        raise TelemetryRejected(
            RejectReason.WRONG_TYPE, f"{WHEELCHAIR_ACCESSIBLE} must be true or false"
        )
    return {
        VEHICLE_ID: metadata.vehicle_id,
        LABEL: metadata.label or "",
        LICENSE_PLATE: metadata.license_plate or "",
        WHEELCHAIR_ACCESSIBLE: _ACCESSIBLE[accessible],
    }


def from_redis(vehicle_id: str, fields: Mapping[str, str]) -> VehicleMetadata:
    """Tolerant: what the stored hash says of the vehicle (an absent hash: nothing)."""
    return read_stored(vehicle_id, fields).value


def read_stored(vehicle_id: str, fields: Mapping[str, str]) -> StoredRead[VehicleMetadata]:
    """``from_redis`` that also names the stored fields it could not use."""
    stored = StoredFields(fields)
    accessible_text = stored.text(WHEELCHAIR_ACCESSIBLE)
    accessible = _ACCESSIBLE_TEXT.get(accessible_text) if accessible_text else None
    if accessible_text is not None and accessible is None:
        stored.mark_bad(WHEELCHAIR_ACCESSIBLE)
    return stored.result(
        VehicleMetadata(
            vehicle_id=vehicle_id,
            label=stored.text(LABEL),
            license_plate=stored.text(LICENSE_PLATE),
            wheelchair_accessible=accessible,
        )
    )
