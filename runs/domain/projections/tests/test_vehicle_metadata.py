"""Contract of `vehicle:{vid}:metadata`: the VehicleDescriptor of a vehicle."""

import pytest

from runs.domain.projections import vehicle_metadata as metadata
from runs.domain.projections.tests.round_trip import assert_round_trips
from runs.domain.telemetry.rejection import RejectReason, TelemetryRejected


def test_metadata_round_trips_as_the_hash_it_has_always_been():
    bus = metadata.VehicleMetadata(
        "bus-7", label="7", license_plate="SJ-1234", wheelchair_accessible=True
    )
    stored = [
        ("id", "bus-7"),
        ("label", "7"),
        ("license_plate", "SJ-1234"),
        ("wheelchair_accessible", "1"),
    ]
    assert_round_trips(metadata, "bus-7", bus, stored)


def test_an_unlabelled_inaccessible_vehicle_is_written_with_empty_fields():
    bus = metadata.VehicleMetadata("bus-8", wheelchair_accessible=False)
    fields = metadata.validate_for_write(bus)
    assert fields == {"id": "bus-8", "label": "", "license_plate": "", "wheelchair_accessible": "0"}
    assert metadata.from_redis("bus-8", fields) == bus


def test_a_bad_field_reads_as_absent_and_is_named():
    read = metadata.read_stored("bus-7", {"label": "7", "wheelchair_accessible": "yes"})
    assert read.value == metadata.VehicleMetadata("bus-7", label="7")
    assert read.bad_fields == ("wheelchair_accessible",)
    assert metadata.from_redis("bus-9", {}) == metadata.VehicleMetadata("bus-9")


@pytest.mark.parametrize(
    ("bus", "reason"),
    [
        (metadata.VehicleMetadata("", wheelchair_accessible=True), RejectReason.MISSING_FIELD),
        (metadata.VehicleMetadata("bus-7"), RejectReason.MISSING_FIELD),
        (metadata.VehicleMetadata("bus-7", wheelchair_accessible="1"), RejectReason.WRONG_TYPE),
    ],
)
def test_a_write_refuses_a_missing_or_invalid_value(bus, reason):
    with pytest.raises(TelemetryRejected) as caught:
        metadata.validate_for_write(bus)
    assert caught.value.reason is reason
