"""Telemetry bounds (limits.py): refused on the way in with a reason, dropped on the way out.

Every numeric field has a plausible range that its GTFS-RT protobuf type can hold. A
payload outside it is a ``TelemetryRejected`` (the consumer dead-letters it); a stored
hash holding one (written before the bounds, or by hand) reads back without that value,
and names the field, so no builder is ever handed it.
"""

import json

import pytest

from runs.domain.telemetry import (
    congestion_level,
    occupancy,
    position,
    stop_time_updates,
    trip,
    vehicle_stop_status,
)
from runs.domain.telemetry.rejection import RejectReason, TelemetryRejected

NOW = 1_771_250_000.0
AT = int(NOW) - 5


def decode_position(**fields) -> position.Position:
    payload = json.dumps({"latitude": 38.9, "longitude": -77.0, **fields}).encode()
    return position.decode(payload, vehicle_id="bus-7", received_at=NOW)


def decode_occupancy(**fields) -> occupancy.Occupancy:
    return occupancy.decode(json.dumps(fields).encode(), vehicle_id="bus-7", received_at=NOW)


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"speed": 1e308}, RejectReason.SPEED_OUT_OF_RANGE),
        ({"speed": 150.5}, RejectReason.SPEED_OUT_OF_RANGE),
        ({"odometer": 1e11}, RejectReason.ODOMETER_OUT_OF_RANGE),
        ({"speed": -1}, RejectReason.NEGATIVE_SPEED),
    ],
)
def test_a_position_beyond_its_bounds_is_refused_with_the_reason(fields, reason):
    with pytest.raises(TelemetryRejected) as refused:
        decode_position(**fields)
    assert refused.value.reason is reason


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"occupancy_percentage": 4294967296}, RejectReason.OCCUPANCY_OUT_OF_RANGE),
        ({"occupancy_percentage": 301}, RejectReason.OCCUPANCY_OUT_OF_RANGE),
        ({"occupancy_count": 10_001}, RejectReason.OCCUPANCY_OUT_OF_RANGE),
        ({"occupancy_count": 2**70}, RejectReason.OCCUPANCY_OUT_OF_RANGE),
        ({"occupancy_percentage": -1}, RejectReason.NEGATIVE_OCCUPANCY),
    ],
)
def test_an_occupancy_beyond_its_bounds_is_refused_with_the_reason(fields, reason):
    with pytest.raises(TelemetryRejected) as refused:
        decode_occupancy(**fields)
    assert refused.value.reason is reason


def test_the_edges_of_the_bounds_are_accepted():
    fast = decode_position(speed=150, odometer=1e10, bearing=360)
    assert (fast.speed, fast.odometer, fast.bearing) == (150.0, 1e10, 360.0)
    crush = decode_occupancy(occupancy_percentage=250, occupancy_count=10_000)
    assert (crush.percentage, crush.count, crush.status) == (
        250,
        10_000,
        occupancy.OccupancyStatus.FULL,
    )


def stored_position(**overrides: str) -> dict[str, str]:
    fields = position.validate_for_write(
        position.Position("bus-7", 38.9, -77.0, AT, NOW, bearing=90.0, speed=8.0, odometer=1e5)
    )
    return {**fields, **overrides}


@pytest.mark.parametrize(
    ("field", "text"),
    [
        ("speed", "1e308"),
        ("speed", "inf"),
        ("speed", "fast"),
        ("odometer", "1e30"),
        ("bearing", "-5"),
    ],
)
def test_a_stored_optional_value_out_of_bounds_is_dropped_and_named(field, text):
    read = position.read_stored("bus-7", stored_position(**{field: text}))
    assert getattr(read.value, field) is None
    assert read.value.latitude == 38.9
    assert read.bad_fields == (field,)
    assert position.from_redis("bus-7", stored_position(**{field: text})) == read.value


@pytest.mark.parametrize(
    ("field", "text"),
    [
        ("latitude", "91"),
        ("longitude", "nan"),
        ("timestamp", "-5"),
        ("timestamp", str(AT * 1000)),
        ("timestamp", "soon"),
    ],
)
def test_a_stored_required_value_out_of_bounds_makes_the_position_unusable(field, text):
    read = position.read_stored("bus-7", stored_position(**{field: text}))
    assert (read.value, read.bad_fields) == (None, (field,))


def test_a_good_stored_position_names_no_field():
    read = position.read_stored("bus-7", stored_position())
    assert read.value.speed == 8.0
    assert read.bad_fields == ()
    assert position.read_stored("bus-7", {}).bad_fields == ()


def test_a_stored_occupancy_out_of_bounds_reads_as_no_data():
    fields = occupancy.validate_for_write(occupancy.Occupancy("bus-7", AT, NOW, 40, 20))
    read = occupancy.read_stored(
        "bus-7", {**fields, "occupancy_percentage": "4294967296", "occupancy_count": "-3"}
    )
    assert (read.value.percentage, read.value.count) == (None, None)
    assert read.value.status is occupancy.OccupancyStatus.NO_DATA_AVAILABLE
    assert read.bad_fields == ("occupancy_percentage", "occupancy_count")


def test_stop_time_update_rows_out_of_bounds_are_refused_and_dropped_on_read():
    good = stop_time_updates.StopTimeUpdate(3, "S3", AT + 60, AT + 70, 30)
    for bad in (
        stop_time_updates.StopTimeUpdate(2**32, "S9", AT + 600, None, 30),
        stop_time_updates.StopTimeUpdate(9, "S9", AT + 30 * 86_400, None, 30),
        stop_time_updates.StopTimeUpdate(9, "S9", AT + 600, None, 2**31),
    ):
        with pytest.raises(TelemetryRejected) as refused:
            stop_time_updates.validate_for_write(stop_time_updates.StopTimeUpdates(AT, (good, bad)))
        assert refused.value.reason is RejectReason.INVALID_VALUE
        stored = {
            "timestamp": str(AT),
            "updates": json.dumps(
                [
                    [u.stop_sequence, u.stop_id, u.arrival, u.departure, u.uncertainty_s, False]
                    for u in (good, bad)
                ]
            ),
        }
        read = stop_time_updates.read_stored(stored)
        assert read.value.updates == (good,)
        assert read.bad_fields == ("updates",)


def test_unreadable_stop_time_updates_are_named():
    read = stop_time_updates.read_stored({"timestamp": str(AT), "updates": "[[1, 2"})
    assert (read.value, read.bad_fields) == (None, ("updates",))


def test_run_contracts_drop_and_name_what_they_cannot_use():
    status = vehicle_stop_status.read_stored(
        {
            "current_status": "STOPPED_AT",
            "timestamp": str(AT),
            "current_stop_sequence": "4294967296",
        }
    )
    assert status.value.current_stop_sequence is None
    assert status.bad_fields == ("current_stop_sequence",)
    flying = vehicle_stop_status.read_stored({"current_status": "FLYING", "timestamp": str(AT)})
    assert (flying.value, flying.bad_fields) == (None, ("current_status",))
    assert vehicle_stop_status.from_redis({"current_status": "FLYING", "timestamp": "1"}) is None

    level = congestion_level.read_stored({"congestion_level": "GRIDLOCK", "timestamp": str(AT)})
    assert (
        level.value.congestion_level
        is congestion_level.CongestionLevelCode.UNKNOWN_CONGESTION_LEVEL
    )
    assert level.bad_fields == ("congestion_level",)

    descriptor = trip.read_stored(
        {"trip_id": "T1", "direction_id": "7", "start_date": "20261340", "start_time": "10:00:00"}
    )
    assert (descriptor.value.direction_id, descriptor.value.start_date) == (None, None)
    assert descriptor.bad_fields == ("direction_id", "start_date")
    with pytest.raises(TelemetryRejected):
        trip.validate_for_write(trip.TripDescriptor("T1", start_date="20261340"))


def test_a_stop_sequence_beyond_uint32_is_refused_on_write():
    with pytest.raises(TelemetryRejected):
        vehicle_stop_status.validate_for_write(
            vehicle_stop_status.VehicleStopStatus(
                vehicle_stop_status.StopStatusCode.STOPPED_AT, AT, current_stop_sequence=2**32
            )
        )
