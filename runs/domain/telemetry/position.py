"""Contract of a vehicle position: MQTT payload, typed value, `vehicle:{vid}:position` hash.

Written by the MQTT consumer; read by the REST API, feed builders, detectors and
map-matching through ``from_redis``. Payload (DESIGN.md): ``latitude``,
``longitude`` required (WGS84 degrees), ``bearing`` (0..360), ``speed`` (m/s ≥ 0),
``odometer`` (m ≥ 0), ``timestamp`` (POSIX seconds; the receive time stands in
when absent). Unknown payload fields are ignored. Pure.
"""

from __future__ import annotations

from collections.abc import Mapping

import msgspec

from runs.domain.telemetry.fields import (
    check_finite,
    check_non_negative,
    check_range,
    check_timestamp,
    decode_json_object,
    format_number,
    parse_float,
    parse_int,
)
from runs.domain.telemetry.limits import BEARING_RANGE, LATITUDE_RANGE, LONGITUDE_RANGE
from runs.domain.telemetry.rejection import RejectReason, TelemetryRejected

LATITUDE = "latitude"
LONGITUDE = "longitude"
BEARING = "bearing"
SPEED = "speed"
ODOMETER = "odometer"
TIMESTAMP = "timestamp"
RECEIVED_AT = "received_at"
FIELDS = (LATITUDE, LONGITUDE, BEARING, SPEED, ODOMETER, TIMESTAMP, RECEIVED_AT)


class Position(msgspec.Struct, frozen=True, gc=False):
    """The latest known position of one vehicle. ``received_at`` is server epoch seconds."""

    vehicle_id: str
    latitude: float
    longitude: float
    timestamp: int
    received_at: float
    bearing: float | None = None
    speed: float | None = None
    odometer: float | None = None


class _Payload(msgspec.Struct, gc=False):
    latitude: float | None = None
    longitude: float | None = None
    bearing: float | None = None
    speed: float | None = None
    odometer: float | None = None
    timestamp: int | float | None = None


_decoder = msgspec.json.Decoder(_Payload)


def decode(payload: bytes, *, vehicle_id: str, received_at: float) -> Position:
    """A checked Position from raw MQTT bytes; raises ``TelemetryRejected``."""
    raw = decode_json_object(_decoder, payload)
    if raw.latitude is None or raw.longitude is None:
        raise TelemetryRejected(
            RejectReason.MISSING_COORDINATES, "latitude and longitude are required"
        )
    timestamp = (
        int(received_at)
        if raw.timestamp is None
        else check_timestamp(raw.timestamp, now=received_at)
    )
    position = Position(
        vehicle_id=vehicle_id,
        latitude=raw.latitude,
        longitude=raw.longitude,
        timestamp=timestamp,
        received_at=received_at,
        bearing=raw.bearing,
        speed=raw.speed,
        odometer=raw.odometer,
    )
    check(position)
    return position


def check(position: Position) -> None:
    """Raise ``TelemetryRejected`` unless every field holds a valid value."""
    for name in (LATITUDE, LONGITUDE, BEARING, SPEED, ODOMETER):
        value = getattr(position, name)
        if value is not None:
            check_finite(name, value)
    check_range(LATITUDE, position.latitude, LATITUDE_RANGE, RejectReason.COORDINATES_OUT_OF_RANGE)
    check_range(
        LONGITUDE, position.longitude, LONGITUDE_RANGE, RejectReason.COORDINATES_OUT_OF_RANGE
    )
    check_range(BEARING, position.bearing, BEARING_RANGE, RejectReason.BEARING_OUT_OF_RANGE)
    check_non_negative(SPEED, position.speed, RejectReason.NEGATIVE_SPEED)
    check_non_negative(ODOMETER, position.odometer, RejectReason.NEGATIVE_ODOMETER)
    check_timestamp(position.timestamp)


def validate_for_write(position: Position) -> dict[str, str]:
    """Strict: the hash fields of a valid position (absent optionals omitted)."""
    check(position)
    fields = {
        LATITUDE: format_number(position.latitude),
        LONGITUDE: format_number(position.longitude),
        TIMESTAMP: str(position.timestamp),
        RECEIVED_AT: format_number(position.received_at),
    }
    for name in (BEARING, SPEED, ODOMETER):
        value = getattr(position, name)
        if value is not None:
            fields[name] = format_number(value)
    return fields


def from_redis(vehicle_id: str, fields: Mapping[str, str]) -> Position | None:
    """Tolerant: the stored position, None if a required field is missing or unreadable."""
    latitude = parse_float(fields.get(LATITUDE))
    longitude = parse_float(fields.get(LONGITUDE))
    timestamp = parse_int(fields.get(TIMESTAMP))
    if latitude is None or longitude is None or timestamp is None:
        return None
    received_at = parse_float(fields.get(RECEIVED_AT))
    bearing = parse_float(fields.get(BEARING))
    speed = parse_float(fields.get(SPEED))
    odometer = parse_float(fields.get(ODOMETER))
    return Position(
        vehicle_id=vehicle_id,
        latitude=latitude,
        longitude=longitude,
        timestamp=timestamp,
        received_at=float(timestamp) if received_at is None else received_at,
        bearing=bearing if bearing is not None and 0 <= bearing <= 360 else None,
        speed=speed if speed is not None and speed >= 0 else None,
        odometer=odometer if odometer is not None and odometer >= 0 else None,
    )
