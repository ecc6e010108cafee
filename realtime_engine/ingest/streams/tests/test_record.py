"""The Streams gateway record: what a gateway writes decodes exactly, and every poison
record is refused with its reason (pure: no Redis, no database)."""

from __future__ import annotations

import json

import pytest

from realtime_engine.ingest.decode import Rejection
from realtime_engine.ingest.streams import record
from realtime_engine.ingest.streams.record import (
    MAX_ATTRIBUTE_BUFFER_BYTES,
    MAX_ATTRIBUTE_DEPTH,
    MAX_ATTRIBUTE_ENTRIES,
    MAX_ATTRIBUTE_KEY_CHARS,
    MAX_ATTRIBUTE_STRING_CHARS,
    encode_record,
    receive_record,
    speed_kmh_to_mps,
    stream_of_topic,
    stream_topic,
)
from runs.domain.telemetry.limits import MAX_PAYLOAD_BYTES
from runs.domain.telemetry.position import Position
from runs.domain.telemetry.rejection import RejectReason

NOW = 1_771_250_000.25
FIX_MS = 1_771_249_990_123  # 10 s before NOW, with milliseconds
IMEI = "356307042441013"
STREAM = "telemetry:avl"


class Devices:
    """A device map: one tracker on bus-7; asks are recorded."""

    def __init__(self, mapping: dict[str, str] | None = None) -> None:
        self.mapping = {IMEI: "bus-7"} if mapping is None else mapping
        self.asked: list[str] = []

    def vehicle_of_device(self, device_id: str) -> str | None:
        self.asked.append(device_id)
        return self.mapping.get(device_id)


def fields_of(body: dict | bytes) -> dict[bytes, bytes]:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return {b"payload": raw}


def body(**changes) -> dict:
    fix = {"device_id": IMEI, "timestamp": FIX_MS, "latitude": 38.9, "longitude": -77.03}
    fix.update(changes)
    return {name: value for name, value in fix.items() if value is not ...}


def decoded(fields, devices: Devices | None = None):
    return receive_record(STREAM, fields, NOW, devices or Devices()).decoded


def reason_of(fields) -> RejectReason:
    result = decoded(fields)
    assert isinstance(result, Rejection), result
    return result.reason


def test_a_gateway_record_decodes_to_the_position_of_the_mapped_vehicle():
    fields = encode_record(
        IMEI,
        timestamp_ms=FIX_MS,
        latitude=38.9,
        longitude=-77.03,
        speed_kmh=36.0,
        angle=270,
        altitude=120.5,
        satellites=11,
        priority=1,
        attributes={"239": 1, "66": 12.5, "name": "ign", "flag": True, "none": None},
    )
    received = receive_record(
        STREAM, {k.encode(): v.encode() for k, v in fields.items()}, NOW, Devices()
    )
    assert received.topic == "stream:telemetry:avl"
    assert received.payload == fields["payload"].encode()
    assert received.decoded == Position(
        vehicle_id="bus-7",
        latitude=38.9,
        longitude=-77.03,
        timestamp=1_771_249_990,  # milliseconds dropped
        received_at=NOW,
        bearing=270.0,
        speed=10.0,
        attributes={"239": 1, "66": 12.5, "name": "ign", "flag": True, "none": None},
    )


def test_sentinels_decode_exactly_also_nested_and_round_trip_through_encode_record():
    attributes = {
        "240": 18446744073709551615,  # uint64 max: a float would round it
        "241": -(2**63),
        "11": 2**53 + 1,
        "256": b"\x00\x01\x02\xff",
        "group": {"nested": [b"\x10", {"deep": 2**60}], "n": 3},
        "empty": b"",
    }
    fields = encode_record(
        IMEI, timestamp_ms=FIX_MS, latitude=1, longitude=2, attributes=attributes
    )
    written = json.loads(fields["payload"])["attributes"]
    assert written["240"] == {"__bigint": "18446744073709551615"}
    assert written["256"] == {"__buffer_b64": "AAEC/w=="}
    assert written["group"]["nested"][1] == {"deep": {"__bigint": str(2**60)}}
    position = decoded(fields)
    assert position.attributes == attributes
    assert type(position.attributes["240"]) is int


def test_a_hand_written_sentinel_decodes():
    attributes = {"a": {"__bigint": "18446744073709551615"}, "b": {"__buffer_b64": "AAEC"}}
    assert decoded(fields_of(body(attributes=attributes))).attributes == {
        "a": 18446744073709551615,
        "b": b"\x00\x01\x02",
    }


@pytest.mark.parametrize(
    ("timestamp", "seconds"),
    [
        (FIX_MS, 1_771_249_990),
        ("2026-02-16T13:53:10Z", 1_771_249_990),
        ("2026-02-16T13:53:10.999Z", 1_771_249_990),
        ("2026-02-16T15:53:10+02:00", 1_771_249_990),
        ("2026-02-16T13:53:10.5+00:00", 1_771_249_990),
    ],
)
def test_timestamps_are_epoch_milliseconds_or_iso_8601_with_an_offset(timestamp, seconds):
    assert decoded(fields_of(body(timestamp=timestamp))).timestamp == seconds


def test_speed_in_kmh_is_converted_to_metres_per_second_and_bounded_like_mqtt():
    assert speed_kmh_to_mps(36.0) == 10.0
    assert speed_kmh_to_mps(0) == 0
    assert decoded(fields_of(body(speed=90))).speed == pytest.approx(25.0)
    # 540 km/h is the contract's 150 m/s; above it is refused with the MQTT reason.
    assert decoded(fields_of(body(speed=540))).speed == pytest.approx(150.0)
    assert reason_of(fields_of(body(speed=541))) == RejectReason.SPEED_OUT_OF_RANGE
    assert reason_of(fields_of(body(speed=-1))) == RejectReason.NEGATIVE_SPEED


def test_angle_is_the_bearing_and_out_of_range_as_mqtt_says():
    assert decoded(fields_of(body(angle=0))).bearing == 0.0
    assert reason_of(fields_of(body(angle=361))) == RejectReason.BEARING_OUT_OF_RANGE


def test_an_unmapped_device_is_unknown_device_after_its_record_is_checked():
    devices = Devices({})
    rejection = decoded(fields_of(body()), devices)
    assert rejection.reason == RejectReason.UNKNOWN_DEVICE and devices.asked == [IMEI]
    # A malformed record keeps its own reason, whoever sent it, and asks no map.
    asked_before = list(devices.asked)
    assert (
        decoded(fields_of(body(latitude=...)), devices).reason == RejectReason.MISSING_COORDINATES
    )
    assert devices.asked == asked_before


DEEP = {"a": {"b": {"c": {"d": 1}}}}  # levels 1..4: at the bound
TOO_DEEP = {"a": {"b": {"c": {"d": {"e": 1}}}}}


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        (fields_of(b"{not json"), RejectReason.NOT_JSON),
        (fields_of(b"\xff\xfe"), RejectReason.NOT_JSON),
        (fields_of(b"[1, 2]"), RejectReason.NOT_AN_OBJECT),
        (fields_of(b'{"latitude": NaN}'), RejectReason.NOT_FINITE),
        ({b"other": b"x"}, RejectReason.MISSING_FIELD),
        ({}, RejectReason.MISSING_FIELD),
        (fields_of(b" " * (MAX_PAYLOAD_BYTES + 1)), RejectReason.PAYLOAD_TOO_LARGE),
        (fields_of(body(latitude=...)), RejectReason.MISSING_COORDINATES),
        (fields_of(body(longitude=None)), RejectReason.MISSING_COORDINATES),
        (fields_of(body(latitude=90.5)), RejectReason.COORDINATES_OUT_OF_RANGE),
        (fields_of(body(latitude="38.9")), RejectReason.WRONG_TYPE),
        (fields_of(body(latitude=True)), RejectReason.WRONG_TYPE),
        (fields_of(body(device_id=...)), RejectReason.MISSING_FIELD),
        (fields_of(body(device_id="")), RejectReason.INVALID_DEVICE_ID),
        (fields_of(body(device_id="x" * 65)), RejectReason.INVALID_DEVICE_ID),
        (fields_of(body(device_id="../etc")), RejectReason.INVALID_DEVICE_ID),
        (fields_of(body(device_id=356307042441013)), RejectReason.WRONG_TYPE),
        (fields_of(body(timestamp=...)), RejectReason.MISSING_FIELD),
        (fields_of(body(timestamp=1_771_249_990)), RejectReason.TIMESTAMP_NOT_EPOCH_MILLISECONDS),
        (fields_of(body(timestamp=FIX_MS * 1000)), RejectReason.TIMESTAMP_NOT_EPOCH_MILLISECONDS),
        (fields_of(body(timestamp=FIX_MS + 0.5)), RejectReason.WRONG_TYPE),
        (fields_of(body(timestamp=int(NOW * 1000) + 61_000)), RejectReason.TIMESTAMP_IN_FUTURE),
        (fields_of(body(timestamp="2026-02-16T13:53:10")), RejectReason.INVALID_VALUE),
        (fields_of(body(timestamp="yesterday")), RejectReason.INVALID_VALUE),
        (
            fields_of(body(timestamp="1999-12-31T23:59:59Z")),
            RejectReason.TIMESTAMP_NOT_POSIX_SECONDS,
        ),
        (fields_of(body(altitude=20_000)), RejectReason.INVALID_VALUE),
        (fields_of(body(satellites=256)), RejectReason.INVALID_VALUE),
        (fields_of(body(satellites=1.5)), RejectReason.WRONG_TYPE),
        (fields_of(body(priority=-1)), RejectReason.INVALID_VALUE),
        (fields_of(body(attributes=[1])), RejectReason.WRONG_TYPE),
        # Sentinels: extra keys, not a string, not digits, out of 64 bits, bad base64.
        (fields_of(body(attributes={"a": {"__bigint": "1", "x": 2}})), RejectReason.BAD_SENTINEL),
        (fields_of(body(attributes={"a": {"__bigint": 1}})), RejectReason.BAD_SENTINEL),
        (fields_of(body(attributes={"a": {"__bigint": "12a"}})), RejectReason.BAD_SENTINEL),
        (fields_of(body(attributes={"a": {"__bigint": ""}})), RejectReason.BAD_SENTINEL),
        (fields_of(body(attributes={"a": {"__bigint": "1.5"}})), RejectReason.BAD_SENTINEL),
        (fields_of(body(attributes={"a": {"__bigint": str(2**64)}})), RejectReason.BAD_SENTINEL),
        (fields_of(body(attributes={"a": {"__buffer_b64": "A"}})), RejectReason.BAD_SENTINEL),
        (fields_of(body(attributes={"a": {"__buffer_b64": "AA!="}})), RejectReason.BAD_SENTINEL),
        (fields_of(body(attributes={"a": {"__buffer_b64": None}})), RejectReason.BAD_SENTINEL),
        (
            fields_of(body(attributes={"a": [{"__buffer_b64": "AAEC", "__bigint": "1"}]})),
            RejectReason.BAD_SENTINEL,
        ),
        (fields_of(body(attributes={"__bigint": "1"})), RejectReason.BAD_SENTINEL),
        # Bounds of the bag.
        (fields_of(body(attributes=TOO_DEEP)), RejectReason.ATTRIBUTES_TOO_LARGE),
        (fields_of(body(attributes={"a": [[[[1]]]]})), RejectReason.ATTRIBUTES_TOO_LARGE),
        (
            fields_of(body(attributes={"k" * (MAX_ATTRIBUTE_KEY_CHARS + 1): 1})),
            RejectReason.ATTRIBUTES_TOO_LARGE,
        ),
        (
            fields_of(body(attributes={"s": "x" * (MAX_ATTRIBUTE_STRING_CHARS + 1)})),
            RejectReason.ATTRIBUTES_TOO_LARGE,
        ),
        (
            fields_of(body(attributes={str(i): i for i in range(MAX_ATTRIBUTE_ENTRIES + 1)})),
            RejectReason.ATTRIBUTES_TOO_LARGE,
        ),
        (
            fields_of(body(attributes={"l": [0] * (MAX_ATTRIBUTE_ENTRIES)})),
            RejectReason.ATTRIBUTES_TOO_LARGE,
        ),
        (fields_of(body(attributes={"n": 2**64})), RejectReason.ATTRIBUTES_TOO_LARGE),
        # Nested far beyond what the JSON decoder recurses into.
        (
            fields_of(b'{"attributes": {"a": ' + b"[" * 1500 + b"]" * 1500 + b"}}"),
            RejectReason.ATTRIBUTES_TOO_LARGE,
        ),
    ],
)
def test_poison_records_are_refused_with_their_reason_and_keep_their_bytes(fields, reason):
    received = receive_record(STREAM, fields, NOW, Devices())
    assert isinstance(received.decoded, Rejection)
    assert received.decoded.reason == reason, received.decoded.detail
    assert received.decoded.topic == received.topic == "stream:telemetry:avl"
    if b"payload" in fields:
        assert received.payload == received.decoded.payload == fields[b"payload"]


def test_the_bounds_themselves_are_accepted():
    at_bounds = {
        **DEEP,
        "k" * MAX_ATTRIBUTE_KEY_CHARS: "x" * MAX_ATTRIBUTE_STRING_CHARS,
        "b": {"__buffer_b64": "AA=="},
        "list": [[[1]]],  # levels 2..4
    }
    assert decoded(fields_of(body(attributes=at_bounds))).attributes["list"] == [[[1]]]
    many = {str(i): i for i in range(MAX_ATTRIBUTE_ENTRIES)}
    assert len(decoded(fields_of(body(attributes=many))).attributes) == MAX_ATTRIBUTE_ENTRIES
    assert MAX_ATTRIBUTE_DEPTH == 4


def test_a_buffer_over_its_bound_is_too_large():
    big = encode_record(
        IMEI,
        timestamp_ms=FIX_MS,
        latitude=1,
        longitude=2,
        attributes={"b": b"\x00" * (MAX_ATTRIBUTE_BUFFER_BYTES + 3)},
    )
    assert reason_of({b"payload": big["payload"].encode()}) == RejectReason.ATTRIBUTES_TOO_LARGE


def test_an_entry_read_with_decoded_responses_is_the_same_record():
    fields = encode_record(IMEI, timestamp_ms=FIX_MS, latitude=1, longitude=2)
    assert decoded(fields) == decoded({b"payload": fields["payload"].encode()})


def test_an_entry_without_payload_keeps_a_bounded_picture_of_its_fields():
    received = receive_record(STREAM, {b"lat": b"1", b"x": b"\xff" * 10_000}, NOW, Devices())
    assert received.decoded.reason == RejectReason.MISSING_FIELD
    assert received.payload.startswith(b"{'lat': '1'")
    assert len(received.payload) <= MAX_PAYLOAD_BYTES


def test_the_dead_letter_topic_names_the_stream():
    assert stream_topic("telemetry:avl") == "stream:telemetry:avl"
    assert stream_of_topic("stream:telemetry:avl") == "telemetry:avl"
    assert stream_of_topic("transit/vehicle/bus-1/position") is None
    assert stream_of_topic(record.STREAM_TOPIC_PREFIX) is None


def test_a_huge_plain_integer_is_too_large_and_its_dead_letter_detail_stays_short():
    raw = json.dumps(body(attributes={"n": 0})).replace('"n": 0', '"n": ' + "9" * 3800).encode()
    rejection = decoded(fields_of(raw))
    assert rejection.reason == RejectReason.ATTRIBUTES_TOO_LARGE
    assert len(rejection.detail) < 200
