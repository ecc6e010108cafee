"""Contract of a vehicle position: MQTT payload, typed value, `vehicle:{vid}:position` hash.

Written by the MQTT consumer; read by the REST API, feed builders, detectors and
map-matching through ``from_redis``. Payload (DESIGN.md): ``latitude``,
``longitude`` required (WGS84 degrees), ``bearing`` (0..360), ``speed`` (m/s, 0..150),
``odometer`` (m, 0..1e10), ``timestamp`` (POSIX seconds; the receive time stands in
when absent). Unknown payload fields are ignored. Every ingress builds its Position
through ``checked`` (the Streams record too: ``realtime_engine.ingest.streams.record``),
so one set of bounds and reasons holds whichever way a fix arrived.

``attributes`` is the device's IO bag (Streams records; None from MQTT): decoded values
(``Attributes``) that travel to the position history only, never to the hot-state hash.
Pure.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import msgspec

from runs.domain.telemetry.fields import (
    StoredFields,
    StoredRead,
    check_finite,
    check_non_negative,
    check_range,
    check_timestamp,
    decode_json_object,
    format_number,
)
from runs.domain.telemetry.limits import (
    BEARING_RANGE,
    LATITUDE_RANGE,
    LONGITUDE_RANGE,
    MILLISECONDS_THRESHOLD,
    MIN_POSIX_SECONDS,
    ODOMETER_RANGE,
    SPEED_RANGE,
)
from runs.domain.telemetry.rejection import RejectReason, TelemetryRejected

LATITUDE = "latitude"
LONGITUDE = "longitude"
BEARING = "bearing"
SPEED = "speed"
ODOMETER = "odometer"
TIMESTAMP = "timestamp"
RECEIVED_AT = "received_at"
FIELDS = (LATITUDE, LONGITUDE, BEARING, SPEED, ODOMETER, TIMESTAMP, RECEIVED_AT)


# The decoded IO bag: JSON's values (ints of any size kept exact) plus bytes, in lists and
# dicts. Typed loosely: it is checked where it is decoded (the Streams record's bounds).
Attributes = dict[str, Any]


class Position(msgspec.Struct, frozen=True, gc=False):
    """The latest known position of one vehicle. ``received_at`` is server epoch seconds.
    ``attributes`` (history only) is not part of the hot-state hash."""

    vehicle_id: str
    latitude: float
    longitude: float
    timestamp: int
    received_at: float
    bearing: float | None = None
    speed: float | None = None
    odometer: float | None = None
    attributes: Attributes | None = None


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
    return checked(
        vehicle_id=vehicle_id,
        latitude=raw.latitude,
        longitude=raw.longitude,
        timestamp=raw.timestamp,
        received_at=received_at,
        bearing=raw.bearing,
        speed=raw.speed,
        odometer=raw.odometer,
    )


def checked(
    *,
    vehicle_id: str,
    latitude: float | None,
    longitude: float | None,
    timestamp: int | float | None,
    received_at: float,
    bearing: float | None = None,
    speed: float | None = None,
    odometer: float | None = None,
    attributes: Attributes | None = None,
) -> Position:
    """A checked Position from decoded values (POSIX seconds ``timestamp``, m/s ``speed``);
    raises ``TelemetryRejected``. The one validation every ingress's position goes through."""
    if latitude is None or longitude is None:
        raise TelemetryRejected(
            RejectReason.MISSING_COORDINATES, "latitude and longitude are required"
        )
    position = Position(
        vehicle_id=vehicle_id,
        latitude=latitude,
        longitude=longitude,
        timestamp=(
            int(received_at) if timestamp is None else check_timestamp(timestamp, now=received_at)
        ),
        received_at=received_at,
        bearing=bearing,
        speed=speed,
        odometer=odometer,
        attributes=attributes,
    )
    check(position)
    return position


_LAT_LOW, _LAT_HIGH = LATITUDE_RANGE
_LON_LOW, _LON_HIGH = LONGITUDE_RANGE
_BEARING_LOW, _BEARING_HIGH = BEARING_RANGE
# Speed and odometer are also never negative, whatever their ranges say.
_SPEED_LOW, _SPEED_HIGH = max(0.0, SPEED_RANGE[0]), SPEED_RANGE[1]
_ODOMETER_LOW, _ODOMETER_HIGH = max(0.0, ODOMETER_RANGE[0]), ODOMETER_RANGE[1]


def check(position: Position) -> None:
    """Raise ``TelemetryRejected`` unless every field holds a valid value."""
    # Every ingress and every hot-state write checks each position: a valid one passes
    # in one expression (NaN fails every comparison, the bounds are finite); anything
    # else goes through the field-by-field checks, which name the reason (or raise what
    # they raise for a value of the wrong type).
    p = position
    bearing, speed, odometer, timestamp = p.bearing, p.speed, p.odometer, p.timestamp
    try:
        if (
            _LAT_LOW <= p.latitude <= _LAT_HIGH
            and _LON_LOW <= p.longitude <= _LON_HIGH
            and (bearing is None or _BEARING_LOW <= bearing <= _BEARING_HIGH)
            and (speed is None or _SPEED_LOW <= speed <= _SPEED_HIGH)
            and (odometer is None or _ODOMETER_LOW <= odometer <= _ODOMETER_HIGH)
            and type(timestamp) is int
            and MIN_POSIX_SECONDS <= timestamp < MILLISECONDS_THRESHOLD
        ):
            return
    except TypeError:
        pass
    _check_each(position)


def _check_each(position: Position) -> None:
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
    check_range(SPEED, position.speed, SPEED_RANGE, RejectReason.SPEED_OUT_OF_RANGE)
    check_non_negative(ODOMETER, position.odometer, RejectReason.NEGATIVE_ODOMETER)
    check_range(ODOMETER, position.odometer, ODOMETER_RANGE, RejectReason.ODOMETER_OUT_OF_RANGE)
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
    """Tolerant: the stored position, None if a required field is missing or unusable."""
    return read_stored(vehicle_id, fields).value


def read_stored(vehicle_id: str, fields: Mapping[str, str]) -> StoredRead[Position]:
    """``from_redis`` that also names the stored fields it could not use: a value outside
    the bounds of ``limits`` is dropped (required ones make the whole position unusable)."""
    stored = StoredFields(fields)
    latitude = stored.number(LATITUDE, LATITUDE_RANGE)
    longitude = stored.number(LONGITUDE, LONGITUDE_RANGE)
    timestamp = stored.timestamp(TIMESTAMP)
    received_at = stored.number(RECEIVED_AT)
    bearing = stored.number(BEARING, BEARING_RANGE)
    speed = stored.number(SPEED, SPEED_RANGE)
    odometer = stored.number(ODOMETER, ODOMETER_RANGE)
    if latitude is None or longitude is None or timestamp is None:
        return stored.result(None)
    return stored.result(
        Position(
            vehicle_id=vehicle_id,
            latitude=latitude,
            longitude=longitude,
            timestamp=timestamp,
            received_at=float(timestamp) if received_at is None else received_at,
            bearing=bearing,
            speed=speed,
            odometer=odometer,
        )
    )
