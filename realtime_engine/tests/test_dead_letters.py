"""Every rejection reason, through the broker: the message lands in telemetry:dlq with its
reason, hot state and history stay untouched, and the consumer keeps running."""

from __future__ import annotations

import base64
import json
import time

import pytest

from databus import keys
from realtime_engine.ingest import dlq
from realtime_engine.ingest.topics import TelemetryLeaf, vehicle_topic
from realtime_engine.tests.mqtt_support import publish
from runs.domain.telemetry.rejection import RejectReason
from tests.support.processes import wait_for

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


def test_every_payload_reason_has_a_case():
    refused_only_in_code = {RejectReason.MISSING_FIELD, RejectReason.INVALID_VALUE}
    assert {case[0] for case in CASES} == set(RejectReason) - refused_only_in_code


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
    consumers.start(system_broker)
    topic = f"{topic_root}/vehicle/{vehicle_id}/{leaf}"
    raw = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    publish(system_broker, [(topic, raw), (vehicle_topic(topic_root, "control", POS), ok())])
    wait_for(lambda: history_rows("control"), 10, "the control message after the bad one")
    [letter] = dlq.read(redis_client, count=10)
    assert (letter.reason, letter.topic, letter.payload) == (reason.value, topic, raw)
    assert letter.message and letter.received_at > NOW - 5
    assert redis_client.keys("vehicle:*") == [keys.vehicle_position("control")]
    assert history_rows() == [("control", history_rows("control")[0][1])]


def test_a_non_utf8_payload_is_kept_as_base64(
    consumers, system_broker, topic_root, redis_client, history_rows
):
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
