"""Hypothesis: whatever bytes, JSON or topic arrive, the decoder returns a value or a
rejection and never raises; what it accepts is writable."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from realtime_engine.ingest.decode import Ignored, Rejection, decode_message
from runs.domain.telemetry import occupancy, position

ROOT = "transit"
RECEIVED_AT = 1_771_250_000.0

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=12,
)
field_names = st.sampled_from(
    [
        "latitude",
        "longitude",
        "bearing",
        "speed",
        "odometer",
        "timestamp",
        "occupancy_percentage",
        "occupancy_count",
        "occupancy_status",
    ]
)
numbers = st.integers(-(10**15), 10**15) | st.floats(allow_nan=True, allow_infinity=True)
payload_objects = st.dictionaries(field_names, numbers | json_values, max_size=8)
topics = st.one_of(
    st.builds(
        lambda vid, leaf: f"{ROOT}/vehicle/{vid}/{leaf}",
        st.text(max_size=70),
        st.sampled_from(["position", "occupancy", "progression", "other"]),
    ),
    st.text(max_size=60),
)


def check_never_raises(topic: str, payload: bytes) -> None:
    result = decode_message(topic, payload, RECEIVED_AT, ROOT)
    if isinstance(result, position.Position):
        position.validate_for_write(result)
    elif isinstance(result, occupancy.Occupancy):
        occupancy.validate_for_write(result)
    else:
        assert isinstance(result, Rejection | Ignored)
        if isinstance(result, Rejection):
            assert result.detail and result.payload == payload


@settings(max_examples=300, deadline=None)
@given(topics, st.binary(max_size=300))
def test_arbitrary_bytes(topic, payload):
    check_never_raises(topic, payload)


@settings(max_examples=300, deadline=None)
@given(topics, json_values)
def test_arbitrary_json(topic, value):
    check_never_raises(topic, json.dumps(value).encode())


@settings(max_examples=500, deadline=None)
@given(
    st.sampled_from(["v1", "bus-9.a"]), st.sampled_from(["position", "occupancy"]), payload_objects
)
def test_telemetry_shaped_objects(vehicle_id, leaf, value):
    check_never_raises(f"{ROOT}/vehicle/{vehicle_id}/{leaf}", json.dumps(value).encode())
