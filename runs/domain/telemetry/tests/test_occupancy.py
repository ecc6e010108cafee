"""The occupancy contract: the server classifies the status; bad payloads are refused."""

import json

import pytest

from runs.domain.telemetry import occupancy
from runs.domain.telemetry.occupancy import OccupancyStatus
from runs.domain.telemetry.rejection import RejectReason, TelemetryRejected

NOW = 1_771_250_000.0


def decode(payload: dict) -> occupancy.Occupancy:
    return occupancy.decode(json.dumps(payload).encode(), vehicle_id="bus-7", received_at=NOW)


@pytest.mark.parametrize(
    ("percentage", "status"),
    [
        (None, OccupancyStatus.NO_DATA_AVAILABLE),
        (0, OccupancyStatus.MANY_SEATS_AVAILABLE),
        (19, OccupancyStatus.MANY_SEATS_AVAILABLE),
        (20, OccupancyStatus.FEW_SEATS_AVAILABLE),
        (49, OccupancyStatus.FEW_SEATS_AVAILABLE),
        (50, OccupancyStatus.STANDING_ROOM_ONLY),
        (79, OccupancyStatus.STANDING_ROOM_ONLY),
        (80, OccupancyStatus.FULL),
        (130, OccupancyStatus.FULL),
    ],
)
def test_status_is_classified_from_the_percentage(percentage, status):
    assert occupancy.classify(percentage) is status


def test_an_edge_sent_status_is_discarded():
    o = decode({"occupancy_percentage": 10, "occupancy_status": "FULL", "timestamp": 1_771_249_990})
    assert o.status is OccupancyStatus.MANY_SEATS_AVAILABLE
    assert occupancy.validate_for_write(o) == {
        "occupancy_percentage": "10",
        "occupancy_status": "MANY_SEATS_AVAILABLE",
        "timestamp": "1771249990",
        "received_at": "1771250000.0",
    }


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        ({"occupancy_percentage": -1}, RejectReason.NEGATIVE_OCCUPANCY),
        ({"occupancy_count": -5}, RejectReason.NEGATIVE_OCCUPANCY),
        ({"occupancy_percentage": 50.5}, RejectReason.WRONG_TYPE),
        ({"occupancy_count": "12"}, RejectReason.WRONG_TYPE),
        ({"timestamp": 1_771_249_990_000}, RejectReason.TIMESTAMP_IN_MILLISECONDS),
    ],
)
def test_bad_occupancy_payloads_are_rejected(payload, reason):
    with pytest.raises(TelemetryRejected) as caught:
        decode(payload)
    assert caught.value.reason is reason


def test_from_redis_round_trips_and_tolerates_garbage():
    o = decode({"occupancy_percentage": 85, "occupancy_count": 60, "timestamp": 1_771_249_990})
    assert occupancy.from_redis("bus-7", occupancy.validate_for_write(o)) == o
    read = occupancy.from_redis("v", {"timestamp": "1771249990", "occupancy_count": "many"})
    assert read.count is None and read.status is OccupancyStatus.NO_DATA_AVAILABLE
    assert occupancy.from_redis("v", {"occupancy_count": "3"}) is None
