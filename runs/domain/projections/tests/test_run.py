"""Contract of `run:{rid}`: every field written (absent ones empty, in a fixed order),
read back tolerantly, refused on write when required or invalid."""

import msgspec
import pytest

from runs.domain.lifecycle.states import RunState
from runs.domain.projections import run
from runs.domain.projections.tests.round_trip import assert_round_trips
from runs.domain.telemetry.rejection import RejectReason, TelemetryRejected
from runs.domain.telemetry.trip import ScheduleRelationship

PROJECTION = run.RunProjection(
    run_id="r-1",
    vehicle_id="bus-7",
    state=RunState.IN_PROGRESS,
    trip_id="T1",
    route_id="R10",
    operator_id="12",
    shape_id="SH1",
    direction_id=0,
    start_date="20260301",
    start_time="25:10:00",
    last_event_at=1_771_249_990.25,
)
# What a write requires and nothing more.
BARE = run.RunProjection(
    run_id="r-2", vehicle_id="bus-7", state=RunState.CONFIRMED, trip_id="T1", start_date="20260301"
)


def test_a_projection_round_trips_as_the_hash_it_has_always_been():
    stored = [
        ("run_id", "r-1"),
        ("vehicle_id", "bus-7"),
        ("operator_id", "12"),
        ("route_id", "R10"),
        ("trip_id", "T1"),
        ("shape_id", "SH1"),
        ("direction_id", "0"),
        ("start_date", "20260301"),
        ("start_time", "25:10:00"),
        ("schedule_relationship", "SCHEDULED"),
        ("run_lifecycle_state", "In Progress"),
        ("last_event_at", "1771249990.25"),
    ]
    assert_round_trips(run, "r-1", PROJECTION, stored)


def test_absent_values_are_written_empty_and_read_as_absent():
    fields = run.validate_for_write(BARE)
    assert tuple(fields) == run.FIELDS
    assert [name for name, value in fields.items() if not value] == [
        "operator_id",
        "route_id",
        "shape_id",
        "direction_id",
        "start_time",
        "last_event_at",
    ]
    assert run.from_redis("r-2", fields) == BARE
    assert {name: fields[name] for name in run.STATE_FIELDS} == {
        "run_lifecycle_state": "Confirmed",
        "last_event_at": "",
    }


def test_a_bad_field_reads_as_absent_and_is_named():
    fields = run.validate_for_write(PROJECTION) | {
        "run_lifecycle_state": "Flying",
        "last_event_at": "soon",
        "direction_id": "7",
        "start_date": "20261340",
    }
    read = run.read_stored("r-1", fields)
    # The four bad fields read as absent; the others as written.
    assert read.value == msgspec.structs.replace(
        PROJECTION, state=None, last_event_at=None, direction_id=None, start_date=None
    )
    assert sorted(read.bad_fields) == [
        "direction_id",
        "last_event_at",
        "run_lifecycle_state",
        "start_date",
    ]


def test_a_reader_may_take_only_the_fields_it_needs():
    fields = {"run_lifecycle_state": "Tracking", "vehicle_id": None, "trip_id": "T1"}
    assert run.from_redis("r-1", fields) == run.RunProjection(
        run_id="r-1", state=RunState.TRACKING, trip_id="T1"
    )
    assert run.from_redis("r-1", dict.fromkeys(fields)) is None
    assert run.from_redis("r-1", {}) is None
    assert run.parse_state("No Signal") is RunState.NO_SIGNAL
    assert run.parse_state("") is run.parse_state("Bogus") is None


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"vehicle_id": ""}, RejectReason.MISSING_FIELD),
        ({"trip_id": None}, RejectReason.MISSING_FIELD),
        ({"start_date": None}, RejectReason.MISSING_FIELD),
        ({"state": None}, RejectReason.MISSING_FIELD),
        ({"state": "Flying"}, RejectReason.INVALID_VALUE),
        ({"direction_id": 2}, RejectReason.INVALID_VALUE),
        ({"start_time": "8h"}, RejectReason.INVALID_VALUE),
        ({"start_date": "2026-03-01"}, RejectReason.INVALID_VALUE),
        ({"schedule_relationship": "MAYBE"}, RejectReason.INVALID_VALUE),
    ],
)
def test_a_write_refuses_a_missing_or_invalid_value(change, reason):
    fields = {name: getattr(PROJECTION, name) for name in PROJECTION.__struct_fields__}
    with pytest.raises(TelemetryRejected) as caught:
        run.validate_for_write(run.RunProjection(**(fields | change)))
    assert caught.value.reason is reason


def test_a_cancelled_trip_keeps_its_relationship():
    cancelled = msgspec.structs.replace(
        BARE,
        run_id="r-3",
        state=RunState.CANCELLED,
        schedule_relationship=ScheduleRelationship.CANCELED,
    )
    fields = run.validate_for_write(cancelled)
    assert fields["schedule_relationship"] == "CANCELED"
    assert run.from_redis("r-3", fields) == cancelled
