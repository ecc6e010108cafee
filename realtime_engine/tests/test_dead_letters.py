"""Every rejection reason, through the broker: the message lands in telemetry:dlq with its
reason, hot state and history stay untouched, and the consumer keeps running. A letter
keeps at most ``dlq.PAYLOAD_KEEP_BYTES`` of its payload, with its length and digest."""

from __future__ import annotations

import base64
import hashlib
import json
import time

import pytest

from databus import keys
from realtime_engine.ingest import dlq
from realtime_engine.ingest.decode import Rejection
from realtime_engine.ingest.topics import TelemetryLeaf, vehicle_topic
from realtime_engine.tests.mqtt_support import publish
from runs.domain.telemetry.rejection import RejectReason
from tests.support.processes import wait_for
from tests.support.vehicles import register_vehicles

NOW = int(time.time())
POS = TelemetryLeaf.POSITION
OCC = TelemetryLeaf.OCCUPANCY


def ok(**extra) -> dict:
    return {"latitude": 38.9, "longitude": -77.0, **extra}


# (reason, vehicle id, leaf or raw topic suffix, payload)
CASES = [
    (RejectReason.NOT_JSON, "v1", POS, b"lat=1,lon=2"),
    (RejectReason.NOT_AN_OBJECT, "v1", POS, b"[38.9, -77.0]"),
    (RejectReason.UNKNOWN_TOPIC, "v1", "weather", ok()),
    (RejectReason.INVALID_VEHICLE_ID, "bus-1" + "x" * 70, POS, ok()),
    (RejectReason.INVALID_VEHICLE_ID, "bus 7", POS, ok()),
    # Dot-only, dash-only and other ids without a letter or digit.
    *[(RejectReason.INVALID_VEHICLE_ID, vid, POS, ok()) for vid in (".", "..", "-", "---", ".-.")],
    (RejectReason.INVALID_VEHICLE_ID, "_", OCC, {"occupancy_percentage": 10}),
    (RejectReason.UNKNOWN_VEHICLE, "stranger", POS, ok()),
    (RejectReason.UNKNOWN_VEHICLE, "stranger", OCC, {"occupancy_percentage": 10}),
    (RejectReason.PAYLOAD_TOO_LARGE, "v1", POS, ok(note="x" * 5000)),
    (RejectReason.MISSING_COORDINATES, "v1", POS, {"latitude": 38.9}),
    (RejectReason.COORDINATES_OUT_OF_RANGE, "v1", POS, {"latitude": 95, "longitude": 0}),
    (RejectReason.NOT_FINITE, "v1", POS, b'{"latitude": NaN, "longitude": 1}'),
    (RejectReason.NOT_FINITE, "v1", POS, b'{"latitude": 1, "longitude": 1e400}'),
    (RejectReason.NEGATIVE_SPEED, "v1", POS, ok(speed=-2)),
    (RejectReason.NEGATIVE_ODOMETER, "v1", POS, ok(odometer=-2)),
    (RejectReason.NEGATIVE_OCCUPANCY, "v1", OCC, {"occupancy_count": -1}),
    (RejectReason.BEARING_OUT_OF_RANGE, "v1", POS, ok(bearing=400)),
    (RejectReason.SPEED_OUT_OF_RANGE, "v1", POS, ok(speed=1e308)),
    (RejectReason.ODOMETER_OUT_OF_RANGE, "v1", POS, ok(odometer=1e12)),
    (RejectReason.OCCUPANCY_OUT_OF_RANGE, "v1", OCC, {"occupancy_percentage": 4294967296}),
    (RejectReason.OCCUPANCY_OUT_OF_RANGE, "v1", OCC, {"occupancy_count": 50_000}),
    (RejectReason.TIMESTAMP_IN_MILLISECONDS, "v1", POS, ok(timestamp=NOW * 1000)),
    (RejectReason.TIMESTAMP_NOT_POSIX_SECONDS, "v1", POS, ok(timestamp=86_400)),
    (RejectReason.TIMESTAMP_NOT_POSIX_SECONDS, "v1", POS, ok(timestamp=NOW - 0.5)),
    (RejectReason.TIMESTAMP_IN_FUTURE, "v1", POS, ok(timestamp=NOW + 3600)),
    (RejectReason.WRONG_TYPE, "v1", POS, ok(speed="fast")),
    (RejectReason.WRONG_TYPE, "v1", OCC, {"occupancy_percentage": "half"}),
]


# What an MQTT payload cannot cause: a gateway record's own faults (its device, sentinels,
# IO bag, millisecond timestamps; realtime_engine/ingest/streams/tests/test_record.py) and
# the Streams consumer's redelivery bound.
STREAMS_ONLY = {
    RejectReason.UNKNOWN_DEVICE,
    RejectReason.INVALID_DEVICE_ID,
    RejectReason.BAD_SENTINEL,
    RejectReason.ATTRIBUTES_TOO_LARGE,
    RejectReason.TIMESTAMP_NOT_EPOCH_MILLISECONDS,
    RejectReason.MAX_DELIVERIES,
}


def test_every_payload_reason_has_a_case():
    refused_only_in_code = {RejectReason.MISSING_FIELD, RejectReason.INVALID_VALUE}
    assert {case[0] for case in CASES} == set(RejectReason) - refused_only_in_code - STREAMS_ONLY


@pytest.mark.parametrize(
    ("reason", "vehicle_id", "leaf", "payload"),
    CASES,
    ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)],
)
def test_a_rejected_message_is_dead_lettered_and_ingest_goes_on(
    consumers,
    system_broker,
    topic_root,
    redis_client,
    history_rows,
    reason,
    vehicle_id,
    leaf,
    payload,
):
    # Registered: a payload is refused for what it holds, whoever sent it ("stranger" is not).
    register_vehicles(["v1", "control"])
    consumers.start(system_broker)
    topic = f"{topic_root}/vehicle/{vehicle_id}/{leaf}"
    raw = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    publish(system_broker, [(topic, raw), (vehicle_topic(topic_root, "control", POS), ok())])
    wait_for(lambda: history_rows("control"), 10, "the control message after the bad one")
    [letter] = dlq.read(redis_client, count=10)
    kept = raw[: dlq.PAYLOAD_KEEP_BYTES]
    assert (letter.reason, letter.topic, letter.payload) == (reason.value, topic, kept)
    assert (letter.payload_length, letter.truncated) == (len(raw), kept != raw)
    assert letter.payload_sha256 == hashlib.sha256(raw).hexdigest()
    assert letter.message and letter.received_at > NOW - 5
    assert redis_client.keys("vehicle:*") == [keys.vehicle_position("control")]
    assert history_rows() == [("control", history_rows("control")[0][1])]


def test_a_non_utf8_payload_is_kept_as_base64(
    consumers, system_broker, topic_root, redis_client, history_rows
):
    register_vehicles(["control"])
    consumers.start(system_broker)
    raw = b"\xff\xd8\xff\xe0 binary"
    publish(
        system_broker,
        [
            (vehicle_topic(topic_root, "v9", POS), raw),
            (vehicle_topic(topic_root, "control", POS), ok()),
        ],
    )
    wait_for(lambda: history_rows("control"), 10, "control")
    [entry] = redis_client.xrange(keys.TELEMETRY_DLQ)
    assert entry[1]["payload_encoding"] == "base64"
    assert base64.b64decode(entry[1]["payload"]) == raw
    assert dlq.read(redis_client, count=1)[0].payload == raw


def test_a_dlq_filled_with_megabyte_payloads_keeps_about_4_kib_of_each(
    consumers, system_broker, topic_root, redis_client, history_rows
):
    """The attack this guards against: the broker takes payloads up to 1 MiB, and a DLQ that stored
    them whole (up to DLQ_MAXLEN of them) filled Redis until ingest stopped."""
    register_vehicles(["control"])
    consumers.start(system_broker)
    count, size = 64, 1024 * 1024 - 1024  # under the shipped broker's 1 MiB packet limit
    payloads = [bytes([65 + i % 26]) * size for i in range(count)]
    topic = vehicle_topic(topic_root, "v1", POS)
    memory_before = redis_client.info("memory")["used_memory"]
    publish(system_broker, [(topic, payload) for payload in payloads])
    publish(system_broker, [(vehicle_topic(topic_root, "control", POS), ok())])
    wait_for(lambda: dlq.length(redis_client) == count, 30, "every oversized payload refused")
    wait_for(lambda: history_rows("control"), 10, "ingest goes on")

    letters = dlq.read(redis_client, count=count)
    assert {letter.reason for letter in letters} == {RejectReason.PAYLOAD_TOO_LARGE.value}
    for letter, payload in zip(letters, payloads, strict=True):
        assert letter.payload == payload[: dlq.PAYLOAD_KEEP_BYTES]
        assert (letter.payload_length, letter.truncated) == (size, True)
        assert letter.payload_sha256 == hashlib.sha256(payload).hexdigest()
    stream_bytes = redis_client.memory_usage(keys.TELEMETRY_DLQ, samples=0)
    per_letter = stream_bytes / count
    print(f"{count} letters of {size:,}-byte payloads: {per_letter:,.0f} bytes each in Redis")
    assert dlq.PAYLOAD_KEEP_BYTES <= per_letter < 2 * dlq.PAYLOAD_KEEP_BYTES
    # Whole, they would have taken 64 MiB.
    assert redis_client.info("memory")["used_memory"] - memory_before < 4 * 1024 * 1024


def test_a_letter_is_cut_where_it_could_grow_and_says_so():
    received_at = 1_771_250_000.0
    text = "{" + "é" * 3000  # 6,001 bytes: the cut falls inside a two-byte character
    fields = dlq.entry_fields(
        Rejection(
            "t/" + "x" * 70_000,
            text.encode(),
            RejectReason.PAYLOAD_TOO_LARGE,
            "d" * 70_000,
            received_at,
        )
    )
    assert fields["payload_encoding"] == "base64"  # the kept bytes, exactly
    assert base64.b64decode(fields["payload"]) == text.encode()[: dlq.PAYLOAD_KEEP_BYTES]
    assert len(fields["topic"]) == len(fields["message"]) == dlq.TEXT_KEEP_CHARS
    letter = dlq.DeadLetter.from_entry("1-1", fields)
    assert (letter.truncated, letter.payload_length) == (True, 6001)

    whole = dlq.entry_fields(Rejection("t/v/position", b"{}", RejectReason.NOT_JSON, "x", 0.0))
    assert (whole["truncated"], whole["payload_length"]) == ("0", "2")
    # A letter written before truncation existed reads as whole.
    old = {k: v for k, v in whole.items() if k not in {"truncated", "payload_length"}}
    assert dlq.DeadLetter.from_entry("1-2", old).truncated is False
