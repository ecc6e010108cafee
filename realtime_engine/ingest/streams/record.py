"""The gateway record of the Redis Streams ingress: one stream entry per fix. Pure.

An AVL gateway (for example one decoding Teltonika codec 8/8E) appends one entry per
fix, its field ``payload`` holding a JSON object:

- ``device_id`` (required): the tracker's IMEI, a string (1-64 of A-Z a-z 0-9 . _ -);
  ``DeviceMap`` names its vehicle, and a device that maps to none is ``unknown_device``.
- ``timestamp`` (required): ISO 8601 with an offset or ``Z``, or epoch milliseconds (an
  integer). Sub-second precision is dropped (history and hot state hold POSIX seconds).
- ``latitude``, ``longitude`` (required, WGS84 degrees).
- optional ``angle`` (degrees 0..360, the position's bearing), ``speed`` (km/h, converted
  by ``speed_kmh_to_mps`` and then bounded like an MQTT speed), ``altitude`` (m),
  ``satellites``, ``priority``. The last three are checked but not kept: neither hot state
  nor history has a column for them.
- optional ``attributes``: the IO element bag ``{io_id: value}``, kept in history.

Values JSON cannot hold are sentinel objects, anywhere inside ``attributes``:
``{"__bigint": "18446744073709551615"}`` (an exact integer, int64 or uint64) and
``{"__buffer_b64": "AAEC"}`` (bytes). A sentinel with extra keys, a non-string value,
non-digits or bad base64 is ``bad_sentinel``. The bag is bounded (``MAX_ATTRIBUTE_*``,
``ATTRIBUTE_INTEGER_RANGE``): over a bound it is ``attributes_too_large``.

The position itself goes through ``runs.domain.telemetry.position.checked``, the
validation an MQTT position goes through: same bounds, same reasons. ``receive_record``
is what the Streams consumer calls per entry; ``encode_record`` is how a gateway (the
reference publisher, tests) writes one. This module is the one place the format is known.
"""

from __future__ import annotations

import base64
import binascii
import math
import re
from collections.abc import Mapping
from datetime import datetime
from typing import Annotated, Any, Protocol

import msgspec

from realtime_engine.ingest.decode import Received, Rejection
from runs.domain.telemetry import position as position_contract
from runs.domain.telemetry.fields import check_range, decode_json_object, require
from runs.domain.telemetry.limits import (
    MAX_PAYLOAD_BYTES,
    MILLISECONDS_THRESHOLD,
    MIN_POSIX_SECONDS,
    VEHICLE_ID_RULE,
    is_valid_vehicle_id,
)
from runs.domain.telemetry.position import Attributes, Position
from runs.domain.telemetry.rejection import RejectReason, TelemetryRejected

# A dead letter of a stream record keeps ``stream:{key}`` as its topic (no MQTT topic has
# a colon in its first segment, so the two never mix; ``manage.py dlq`` tells them apart).
STREAM_TOPIC_PREFIX = "stream:"
# The entry field holding the record's JSON.
PAYLOAD_FIELD = "payload"

BIGINT = "__bigint"
BUFFER_B64 = "__buffer_b64"
SENTINELS = (BIGINT, BUFFER_B64)

# Bounds of the IO bag (a Teltonika record carries at most a few dozen flat IO elements;
# these leave room for gateways that group them, and keep one record's cost small).
# Levels of containers: the bag is level 1, {"a": {"b": [1]}} reaches level 3.
MAX_ATTRIBUTE_DEPTH = 4
# Keys and list items over the whole bag, at every level.
MAX_ATTRIBUTE_ENTRIES = 256
MAX_ATTRIBUTE_KEY_CHARS = 64
MAX_ATTRIBUTE_STRING_CHARS = 1024
# Decoded bytes of one buffer (an IO element of codec 8E holds at most a few hundred).
MAX_ATTRIBUTE_BUFFER_BYTES = 1024
# An integer IO value, plain or ``__bigint``: int64 or uint64.
ATTRIBUTE_INTEGER_RANGE = (-(2**63), 2**64 - 1)
# ``encode_record`` writes an integer beyond this as a ``__bigint`` (a JavaScript or
# float-based JSON reader would round it).
MAX_JSON_SAFE_INTEGER = 2**53 - 1

# Checked, not kept. Altitude: below the Dead Sea shore to above any road or rail line,
# with room for GNSS error. Satellites and priority: one byte each in the AVL record.
ALTITUDE_RANGE_M = (-1_000.0, 10_000.0)
SATELLITES_RANGE = (0, 255)
PRIORITY_RANGE = (0, 255)

_BIGINT_TEXT = re.compile(r"-?[0-9]{1,20}")
_MIN_EPOCH_MS = MIN_POSIX_SECONDS * 1000
_MAX_EPOCH_MS = MILLISECONDS_THRESHOLD * 1000 - 1


class DeviceMap(Protocol):
    """Which vehicle a tracker is on (``realtime_engine.ingest.vehicle_registry``)."""

    def vehicle_of_device(self, device_id: str) -> str | None: ...


def stream_topic(stream_key: str) -> str:
    """The ``topic`` a dead letter of a record read from ``stream_key`` keeps."""
    return f"{STREAM_TOPIC_PREFIX}{stream_key}"


def stream_of_topic(topic: str) -> str | None:
    """The stream key of a ``stream_topic``, None for any other (an MQTT topic)."""
    if topic.startswith(STREAM_TOPIC_PREFIX) and len(topic) > len(STREAM_TOPIC_PREFIX):
        return topic[len(STREAM_TOPIC_PREFIX) :]
    return None


def speed_kmh_to_mps(speed_kmh: float) -> float:
    """A gateway's km/h as the m/s every telemetry contract holds."""
    return speed_kmh / 3.6


class _Record(msgspec.Struct, gc=False):
    device_id: str | None = None
    timestamp: int | str | None = None
    latitude: float | None = None
    longitude: float | None = None
    altitude: float | None = None
    angle: float | None = None
    speed: float | None = None
    satellites: int | None = None
    priority: int | None = None
    attributes: dict[str, Any] | None = None


_decoder = msgspec.json.Decoder(_Record)

# The usual bag (flat, a few dozen plain values, well within every bound) is decoded and
# bounded by msgspec in C, in one pass with the record. A record this narrower type does
# not fit (a nested bag, a sentinel, a uint64 value beyond int64, a bound crossed, any
# decoding error) is decoded again by ``_decoder`` and walked by ``decode_attributes``,
# whose reasons are the format's: the fast path never accepts what the walk refuses.
_FlatValue = (
    bool
    | Annotated[int, msgspec.Meta(ge=-(2**63), le=2**63 - 1)]
    | float
    | Annotated[str, msgspec.Meta(max_length=MAX_ATTRIBUTE_STRING_CHARS)]
    | None
)
_FlatBag = Annotated[
    dict[Annotated[str, msgspec.Meta(max_length=MAX_ATTRIBUTE_KEY_CHARS)], _FlatValue],
    msgspec.Meta(max_length=MAX_ATTRIBUTE_ENTRIES),
]


class _FlatRecord(_Record, gc=False):
    attributes: _FlatBag | None = None


_flat_decoder = msgspec.json.Decoder(_FlatRecord)


def receive_record(
    stream_key: str,
    fields: Mapping[bytes | str, bytes | str],
    received_at: float,
    devices: DeviceMap,
) -> Received:
    """One stream entry and its decoding (a Position or a Rejection), ready for
    ``plan_batch``. Never raises for anything in the entry; an exception of ``devices``
    itself (a registry that cannot answer) propagates, so that the batch is held."""
    topic = stream_topic(stream_key)
    payload = _payload_of(fields)
    if payload is None:
        payload = _fields_repr(fields)
        return _rejected(
            topic, payload, received_at, RejectReason.MISSING_FIELD, "the entry has no payload"
        )
    try:
        candidate = decode_record(payload, received_at=received_at)
    except TelemetryRejected as rejected:
        return _rejected(topic, payload, received_at, rejected.reason, rejected.detail)
    except Exception as error:  # a decoder bug must not stop ingest
        return _rejected(
            topic, payload, received_at, RejectReason.INVALID_VALUE, f"undecodable: {error!r}"
        )
    vehicle_id = devices.vehicle_of_device(candidate.vehicle_id)
    if vehicle_id is None:
        return _rejected(
            topic,
            payload,
            received_at,
            RejectReason.UNKNOWN_DEVICE,
            f"device {candidate.vehicle_id} is no vehicle's tracker",
        )
    return Received(topic, payload, msgspec.structs.replace(candidate, vehicle_id=vehicle_id))


def decode_record(payload: bytes, *, received_at: float) -> Position:
    """The checked Position of one record, its ``vehicle_id`` still the device id (the
    mapping is ``receive_record``'s); raises ``TelemetryRejected``."""
    if len(payload) > MAX_PAYLOAD_BYTES:
        raise TelemetryRejected(
            RejectReason.PAYLOAD_TOO_LARGE,
            f"payload of {len(payload)} bytes is over {MAX_PAYLOAD_BYTES}",
        )
    raw, bag_checked = _decode_raw(payload)
    device_id = require("device_id", raw.device_id)
    if not is_valid_vehicle_id(device_id):
        raise TelemetryRejected(
            RejectReason.INVALID_DEVICE_ID, f"device_id {device_id[:80]!r}: {VEHICLE_ID_RULE}"
        )
    timestamp = record_timestamp(require("timestamp", raw.timestamp))
    check_range("altitude", raw.altitude, ALTITUDE_RANGE_M, RejectReason.INVALID_VALUE)
    check_range("satellites", raw.satellites, SATELLITES_RANGE, RejectReason.INVALID_VALUE)
    check_range("priority", raw.priority, PRIORITY_RANGE, RejectReason.INVALID_VALUE)
    return position_contract.checked(
        vehicle_id=device_id,
        latitude=raw.latitude,
        longitude=raw.longitude,
        timestamp=timestamp,
        received_at=received_at,
        bearing=raw.angle,
        speed=None if raw.speed is None else speed_kmh_to_mps(raw.speed),
        attributes=(
            raw.attributes
            if bag_checked or raw.attributes is None
            else decode_attributes(raw.attributes)
        ),
    )


def _decode_raw(payload: bytes) -> tuple[_Record, bool]:
    """The decoded record, and whether its bag (if any) is already known to be within the
    format (flat, bounded, no sentinel): then ``decode_attributes`` has nothing to do."""
    try:
        raw: _Record = _flat_decoder.decode(payload)
    except (msgspec.DecodeError, RecursionError):
        pass  # the generic decoding below says why, or decodes what is merely not flat
    else:
        bag = raw.attributes
        # A flat bag may still be a sentinel itself, which decode_attributes refuses.
        return raw, bag is None or (BIGINT not in bag and BUFFER_B64 not in bag)
    try:
        return decode_json_object(_decoder, payload), False
    except RecursionError:
        raise TelemetryRejected(
            RejectReason.ATTRIBUTES_TOO_LARGE, "nested too deeply to decode"
        ) from None


def record_timestamp(value: int | str) -> int:
    """POSIX seconds of a record's ``timestamp``: epoch milliseconds or ISO 8601 with an
    offset, sub-second part dropped. The contract's own timestamp checks follow."""
    if isinstance(value, int):
        if not _MIN_EPOCH_MS <= value <= _MAX_EPOCH_MS:
            raise TelemetryRejected(
                RejectReason.TIMESTAMP_NOT_EPOCH_MILLISECONDS,
                f"timestamp {value} is not epoch milliseconds after 2000-01-01",
            )
        return value // 1000
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise TelemetryRejected(
            RejectReason.INVALID_VALUE, f"timestamp {value[:80]!r} is not ISO 8601"
        ) from None
    if moment.tzinfo is None:
        raise TelemetryRejected(
            RejectReason.INVALID_VALUE, f"timestamp {value[:80]!r} has no UTC offset"
        )
    try:
        return math.floor(moment.timestamp())
    except (OverflowError, ValueError):
        raise TelemetryRejected(
            RejectReason.INVALID_VALUE, f"timestamp {value[:80]!r} is out of range"
        ) from None


def decode_attributes(bag: dict[str, Any]) -> Attributes:
    """The IO bag with its sentinels decoded (bigint → int, buffer → bytes), within the
    bounds; raises ``TelemetryRejected`` (``bad_sentinel``, ``attributes_too_large``)."""
    if any(name in bag for name in SENTINELS):
        raise TelemetryRejected(RejectReason.BAD_SENTINEL, "attributes is a sentinel, not a bag")
    return _AttributeWalk().mapping(bag, 1)


class _AttributeWalk:
    """One bag's decoding; counts its entries against ``MAX_ATTRIBUTE_ENTRIES``."""

    __slots__ = ("entries",)

    def __init__(self) -> None:
        self.entries = 0

    def mapping(self, value: dict[str, Any], level: int) -> dict[str, Any]:
        self._enter(level, len(value))
        for key in value:
            if len(key) > MAX_ATTRIBUTE_KEY_CHARS:
                _too_large(f"key {key[:80]!r}… is over {MAX_ATTRIBUTE_KEY_CHARS} characters")
        return {key: self.value(item, level) for key, item in value.items()}

    def value(self, value: Any, level: int) -> Any:
        if isinstance(value, dict):
            if any(name in value for name in SENTINELS):
                return decode_sentinel(value)
            return self.mapping(value, level + 1)
        if isinstance(value, list):
            self._enter(level + 1, len(value))
            return [self.value(item, level + 1) for item in value]
        if isinstance(value, str) and len(value) > MAX_ATTRIBUTE_STRING_CHARS:
            _too_large(f"a string of {len(value)} characters is over {MAX_ATTRIBUTE_STRING_CHARS}")
        if isinstance(value, int) and not isinstance(value, bool):
            _check_integer(value)
        return value

    def _enter(self, level: int, entries: int) -> None:
        if level > MAX_ATTRIBUTE_DEPTH:
            _too_large(f"nested deeper than {MAX_ATTRIBUTE_DEPTH} levels")
        self.entries += entries
        if self.entries > MAX_ATTRIBUTE_ENTRIES:
            _too_large(f"more than {MAX_ATTRIBUTE_ENTRIES} keys and items")


def decode_sentinel(value: Mapping[str, Any]) -> int | bytes:
    """The exact value of one ``__bigint`` or ``__buffer_b64`` object."""
    if len(value) != 1:
        raise TelemetryRejected(
            RejectReason.BAD_SENTINEL, f"a sentinel has one key, not {sorted(value)[:8]}"
        )
    ((name, text),) = value.items()
    if not isinstance(text, str):
        raise TelemetryRejected(
            RejectReason.BAD_SENTINEL, f"{name} holds {type(text).__name__}, not a string"
        )
    if name == BIGINT:
        if _BIGINT_TEXT.fullmatch(text) is None:
            raise TelemetryRejected(
                RejectReason.BAD_SENTINEL, f"{BIGINT} {text[:80]!r} is not a decimal integer"
            )
        number = int(text)
        low, high = ATTRIBUTE_INTEGER_RANGE
        if not low <= number <= high:
            raise TelemetryRejected(
                RejectReason.BAD_SENTINEL, f"{BIGINT} {text} is outside int64 and uint64"
            )
        return number
    if len(text) > 4 * math.ceil(MAX_ATTRIBUTE_BUFFER_BYTES / 3):
        _too_large(f"a buffer of over {MAX_ATTRIBUTE_BUFFER_BYTES} bytes")
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise TelemetryRejected(
            RejectReason.BAD_SENTINEL, f"{BUFFER_B64} {text[:80]!r} is not base64"
        ) from None


def _check_integer(value: int) -> None:
    low, high = ATTRIBUTE_INTEGER_RANGE
    if not low <= value <= high:
        digits = str(value)
        _too_large(f"integer {digits[:40]}… ({len(digits)} characters) is outside int64 and uint64")


def _too_large(detail: str) -> None:
    raise TelemetryRejected(RejectReason.ATTRIBUTES_TOO_LARGE, detail)


_PAYLOAD_KEY = PAYLOAD_FIELD.encode()


def _payload_of(fields: Mapping[bytes | str, bytes | str]) -> bytes | None:
    # str first: the consumer's client decodes responses.
    value = fields.get(PAYLOAD_FIELD)
    if value is None:
        value = fields.get(_PAYLOAD_KEY)
        if value is None:
            return None
    if isinstance(value, str):
        return value.encode()
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value)
    return str(value).encode()


def _fields_repr(fields: Mapping[bytes | str, bytes | str]) -> bytes:
    """What a dead letter keeps of an entry without a payload: its fields, bounded."""
    if not fields:
        return b""
    text = repr({_text(key): _text(value) for key, value in fields.items()})
    return text.encode()[:MAX_PAYLOAD_BYTES]


def _text(value: bytes | str) -> str:
    return value.decode(errors="backslashreplace") if isinstance(value, bytes) else str(value)


def _rejected(
    topic: str, payload: bytes, received_at: float, reason: RejectReason, detail: str
) -> Received:
    return Received(topic, payload, Rejection(topic, payload, reason, detail, received_at))


def encode_record(
    device_id: str,
    *,
    timestamp_ms: int,
    latitude: float,
    longitude: float,
    speed_kmh: float | None = None,
    angle: float | None = None,
    altitude: float | None = None,
    satellites: int | None = None,
    priority: int | None = None,
    attributes: Mapping[str, Any] | None = None,
) -> dict[str, str]:
    """The fields of one stream entry as a gateway writes them (``XADD key * …``): integers
    beyond JSON's safe range become ``__bigint``, bytes become ``__buffer_b64``."""
    record: dict[str, Any] = {
        "device_id": device_id,
        "timestamp": timestamp_ms,
        "latitude": latitude,
        "longitude": longitude,
    }
    optional = {
        "altitude": altitude,
        "angle": angle,
        "speed": speed_kmh,
        "satellites": satellites,
        "priority": priority,
    }
    record.update((name, value) for name, value in optional.items() if value is not None)
    if attributes is not None:
        record["attributes"] = _encode_value(dict(attributes))
    return {PAYLOAD_FIELD: msgspec.json.encode(record).decode()}


def _encode_value(value: Any) -> Any:
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int):
        return {BIGINT: str(value)} if abs(value) > MAX_JSON_SAFE_INTEGER else value
    if isinstance(value, (bytes, bytearray, memoryview)):
        return {BUFFER_B64: base64.b64encode(bytes(value)).decode("ascii")}
    if isinstance(value, Mapping):
        return {str(key): _encode_value(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_encode_value(item) for item in value]
    return value
