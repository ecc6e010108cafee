"""Contracts of the run-level hashes: stop status, congestion level, trip descriptor."""

import pytest

from runs.domain.telemetry import congestion_level, trip, vehicle_stop_status
from runs.domain.telemetry.rejection import RejectReason, TelemetryRejected

TS = 1_771_249_990


def test_vehicle_stop_status_round_trips():
    status = vehicle_stop_status.VehicleStopStatus(
        current_status=vehicle_stop_status.StopStatusCode.STOPPED_AT,
        timestamp=TS,
        current_stop_sequence=4,
        stop_id="1001",
    )
    fields = vehicle_stop_status.validate_for_write(status)
    assert fields == {
        "current_status": "STOPPED_AT",
        "current_stop_sequence": "4",
        "stop_id": "1001",
        "timestamp": str(TS),
    }
    assert vehicle_stop_status.from_redis(fields) == status


def test_vehicle_stop_status_refuses_unknown_status_and_missing_stop():
    with pytest.raises(TelemetryRejected) as caught:
        vehicle_stop_status.validate_for_write(
            vehicle_stop_status.VehicleStopStatus(
                current_status="AT_HOME", timestamp=TS, stop_id="1"
            )
        )
    assert caught.value.reason is RejectReason.INVALID_VALUE
    with pytest.raises(TelemetryRejected) as caught:
        vehicle_stop_status.validate_for_write(
            vehicle_stop_status.VehicleStopStatus(
                current_status=vehicle_stop_status.StopStatusCode.INCOMING_AT, timestamp=TS
            )
        )
    assert caught.value.reason is RejectReason.MISSING_FIELD
    assert vehicle_stop_status.from_redis({"current_status": "AT_HOME", "timestamp": "1"}) is None


def test_congestion_level_round_trips_and_reads_unknown_as_unknown():
    level = congestion_level.CongestionLevel(
        congestion_level=congestion_level.CongestionLevelCode.STOP_AND_GO, timestamp=TS
    )
    fields = congestion_level.validate_for_write(level)
    assert congestion_level.from_redis(fields) == level
    read = congestion_level.from_redis({"congestion_level": "JAMMED", "timestamp": str(TS)})
    assert read.congestion_level is congestion_level.CongestionLevelCode.UNKNOWN_CONGESTION_LEVEL


def test_trip_descriptor_round_trips_and_validates():
    descriptor = trip.TripDescriptor(
        trip_id="t1",
        route_id="F4",
        direction_id=1,
        start_time="25:10:00",
        start_date="20260216",
        schedule_relationship=trip.ScheduleRelationship.CANCELED,
    )
    fields = trip.validate_for_write(descriptor)
    assert trip.from_redis(fields) == descriptor
    for bad in (
        trip.TripDescriptor(trip_id=""),
        trip.TripDescriptor(trip_id="t", direction_id=2),
        trip.TripDescriptor(trip_id="t", start_date="2026-02-16"),
    ):
        with pytest.raises(TelemetryRejected):
            trip.validate_for_write(bad)
    read = trip.from_redis({"trip_id": "t", "direction_id": "7", "start_time": "noon"})
    assert (read.direction_id, read.start_time) == (None, None)
