"""The position contract: payload decoding, strict write validation, tolerant reading."""

import json

import pytest

from runs.domain.telemetry import position
from runs.domain.telemetry.rejection import RejectReason, TelemetryRejected

NOW = 1_771_250_000.25


def decode(payload: dict | bytes) -> position.Position:
    raw = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    return position.decode(raw, vehicle_id="bus-7", received_at=NOW)


def test_a_full_payload_decodes_to_a_typed_position():
    p = decode(
        {
            "latitude": 38.9,
            "longitude": -77.03,
            "bearing": 90,
            "speed": 4.5,
            "odometer": 1200,
            "timestamp": 1_771_249_990,
            "occupancy_status": "FULL",
        }
    )
    assert p == position.Position(
        vehicle_id="bus-7",
        latitude=38.9,
        longitude=-77.03,
        timestamp=1_771_249_990,
        received_at=NOW,
        bearing=90.0,
        speed=4.5,
        odometer=1200.0,
    )


def test_receive_time_stands_in_for_a_missing_timestamp():
    assert decode({"latitude": 1, "longitude": 2}).timestamp == int(NOW)


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"{not json", RejectReason.NOT_JSON),
        (b"\xff\xfe\x00", RejectReason.NOT_JSON),
        (b"[1, 2]", RejectReason.NOT_AN_OBJECT),
        (b'"text"', RejectReason.NOT_AN_OBJECT),
        ({"longitude": 2}, RejectReason.MISSING_COORDINATES),
        ({"latitude": None, "longitude": 2}, RejectReason.MISSING_COORDINATES),
        ({"latitude": 91, "longitude": 2}, RejectReason.COORDINATES_OUT_OF_RANGE),
        ({"latitude": 1, "longitude": -180.5}, RejectReason.COORDINATES_OUT_OF_RANGE),
        (b'{"latitude": NaN, "longitude": 2}', RejectReason.NOT_FINITE),
        (b'{"latitude": 1, "longitude": 2, "speed": Infinity}', RejectReason.NOT_FINITE),
        (b'{"latitude": 1e999, "longitude": 2}', RejectReason.NOT_FINITE),
        ({"latitude": 1, "longitude": 2, "speed": -0.1}, RejectReason.NEGATIVE_SPEED),
        ({"latitude": 1, "longitude": 2, "odometer": -1}, RejectReason.NEGATIVE_ODOMETER),
        ({"latitude": 1, "longitude": 2, "bearing": 361}, RejectReason.BEARING_OUT_OF_RANGE),
        ({"latitude": 1, "longitude": 2, "bearing": -1}, RejectReason.BEARING_OUT_OF_RANGE),
        (
            {"latitude": 1, "longitude": 2, "timestamp": 1_771_249_990_000},
            RejectReason.TIMESTAMP_IN_MILLISECONDS,
        ),
        (
            {"latitude": 1, "longitude": 2, "timestamp": 12345},
            RejectReason.TIMESTAMP_NOT_POSIX_SECONDS,
        ),
        (
            {"latitude": 1, "longitude": 2, "timestamp": 1_771_249_990.5},
            RejectReason.TIMESTAMP_NOT_POSIX_SECONDS,
        ),
        (
            {"latitude": 1, "longitude": 2, "timestamp": int(NOW) + 61},
            RejectReason.TIMESTAMP_IN_FUTURE,
        ),
        ({"latitude": "1", "longitude": 2}, RejectReason.WRONG_TYPE),
        ({"latitude": 1, "longitude": 2, "speed": True}, RejectReason.WRONG_TYPE),
        ({"latitude": 1, "longitude": 2, "timestamp": "now"}, RejectReason.WRONG_TYPE),
    ],
)
def test_each_bad_payload_is_rejected_with_its_reason(payload, reason):
    with pytest.raises(TelemetryRejected) as caught:
        decode(payload)
    assert caught.value.reason is reason
    assert caught.value.detail


def test_a_clock_a_little_ahead_is_accepted():
    assert decode({"latitude": 1, "longitude": 2, "timestamp": int(NOW) + 60}).timestamp


def test_validate_for_write_spells_the_hash_and_omits_absent_optionals():
    p = decode({"latitude": 38.9, "longitude": -77.0, "speed": 0, "timestamp": 1_771_249_990})
    assert position.validate_for_write(p) == {
        "latitude": "38.9",
        "longitude": "-77.0",
        "speed": "0.0",
        "timestamp": "1771249990",
        "received_at": "1771250000.25",
    }


def test_validate_for_write_refuses_an_invalid_value_built_in_code():
    bad = position.Position(
        vehicle_id="v",
        latitude=1,
        longitude=2,
        timestamp=1_771_249_990,
        received_at=NOW,
        speed=float("nan"),
    )
    with pytest.raises(TelemetryRejected) as caught:
        position.validate_for_write(bad)
    assert caught.value.reason is RejectReason.NOT_FINITE


def test_from_redis_round_trips_what_was_written():
    p = decode(
        {
            "latitude": 38.9,
            "longitude": -77.0,
            "bearing": 12.5,
            "speed": 3,
            "odometer": 10,
            "timestamp": 1_771_249_990,
        }
    )
    assert position.from_redis("bus-7", position.validate_for_write(p)) == p


def test_from_redis_drops_bad_optionals_and_refuses_missing_required():
    stored = {
        "latitude": "1.5",
        "longitude": "2",
        "timestamp": "1771249990",
        "speed": "fast",
        "bearing": "400",
        "odometer": "-3",
    }
    p = position.from_redis("v", stored)
    assert (p.speed, p.bearing, p.odometer) == (None, None, None)
    assert p.received_at == 1_771_249_990.0
    assert position.from_redis("v", {"latitude": "1", "timestamp": "1771249990"}) is None
    assert position.from_redis("v", {}) is None
