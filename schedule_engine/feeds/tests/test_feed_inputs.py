"""Deciding what the feeds publish from the fleet's hot state (pure), and from a real read."""

from __future__ import annotations

from dataclasses import replace

from django.conf import settings

from databus import keys
from runs.domain.telemetry import occupancy, position, stop_time_updates, trip
from runs.domain.telemetry.vehicle_stop_status import StopStatusCode
from schedule_engine.feeds.feed_inputs import feed_inputs_assemble
from schedule_engine.feeds.snapshots import (
    CongestionLevel,
    EntitySkip,
    HotStateSkip,
    OccupancySnapshot,
    OccupancyStatusCode,
    WheelchairAccessible,
)
from schedule_engine.feeds.tests.fleet_hot_state import TRIP_101, write_fleet
from schedule_engine.hot_state_read import FleetHotState, RunHotState, VehicleHotState, fleet_read

NOW = 1_795_000_000


def assemble(hot: FleetHotState, **options):
    """``feed_inputs_assemble`` with the limits the feed build passes (the settings')."""
    limits = {
        "vehicle_max_age_s": settings.FEED_VEHICLE_MAX_AGE_S,
        "stop_time_update_max_age_s": settings.FEED_STOP_TIME_UPDATE_MAX_AGE_S,
    }
    return feed_inputs_assemble(hot, **{**limits, **options})


def position_fields(at: int) -> dict[str, str]:
    return position.validate_for_write(position.Position("v", 9.9, -84.1, at, float(at)))


def updates_fields(at: int) -> dict[str, str]:
    return stop_time_updates.validate_for_write(
        stop_time_updates.StopTimeUpdates(
            at, (stop_time_updates.StopTimeUpdate(4, "S4", at + 60, at + 60, 20),)
        )
    )


def run_hot_state(run_id: str, *, updates: bool = True, vehicle_id: str = "v") -> RunHotState:
    return RunHotState(
        run_id,
        projection={"vehicle_id": vehicle_id, "last_event_at": str(NOW - 100)},
        trip=trip.validate_for_write(TRIP_101),
        stop_time_updates=updates_fields(NOW - 3) if updates else {},
    )


def test_the_standard_fleet_is_read_and_assembled_into_both_feeds(redis_client):
    fleet = write_fleet(redis_client, NOW)

    inputs = assemble(fleet_read(redis_client, now=NOW), now=NOW)

    by_vehicle = {entity.vehicle.vehicle_id: entity for entity in inputs.vehicles}
    assert set(by_vehicle) == {fleet.vehicle_on_run, fleet.vehicle_without_run}
    on_run = by_vehicle[fleet.vehicle_on_run]
    assert on_run.run_id == fleet.in_progress_run
    assert (on_run.trip.trip_id, on_run.trip.route_id, on_run.trip.direction_id) == (
        "T-101",
        "R1",
        0,
    )
    # The default descriptor policy (the settings' defaults): the plate stays private.
    assert (on_run.vehicle.label, on_run.vehicle.license_plate) == ("Bus 1", None)
    assert on_run.vehicle.wheelchair_accessible is WheelchairAccessible.WHEELCHAIR_ACCESSIBLE
    assert on_run.stop_status.status is StopStatusCode.IN_TRANSIT_TO
    assert (on_run.stop_status.current_stop_sequence, on_run.stop_status.stop_id) == (3, "S3")
    assert on_run.occupancy.status is OccupancyStatusCode.FEW_SEATS_AVAILABLE
    assert on_run.occupancy.percentage == 35
    assert on_run.congestion is CongestionLevel.RUNNING_SMOOTHLY
    assert by_vehicle[fleet.vehicle_without_run].trip is None

    by_run = {entity.run_id: entity for entity in inputs.trips}
    assert set(by_run) == {fleet.in_progress_run, fleet.canceled_run}
    in_progress = by_run[fleet.in_progress_run]
    assert [
        (u.stop_sequence, u.arrival_time, u.departure_time) for u in in_progress.stop_time_updates
    ] == [
        (2, NOW - 65, NOW - 55),
        (3, NOW + 55, NOW + 65),
        (5, NOW + 295, NOW + 295),
    ]
    assert in_progress.vehicle.vehicle_id == fleet.vehicle_on_run
    canceled = by_run[fleet.canceled_run]
    assert canceled.trip.cancelled and canceled.trip.trip_id == "T-102"
    assert canceled.timestamp == NOW - 120
    assert canceled.stop_time_updates == ()


def test_an_empty_hot_state_gives_empty_feeds(redis_client):
    inputs = assemble(fleet_read(redis_client, now=NOW), now=NOW)
    assert inputs.vehicles == () and inputs.trips == ()


def test_a_vehicle_without_a_run_is_in_vehicle_positions_only():
    hot = FleetHotState(vehicles=(VehicleHotState("v", position_fields(NOW - 5)),))

    inputs = assemble(hot, now=NOW)

    assert [e.vehicle.vehicle_id for e in inputs.vehicles] == ["v"]
    assert inputs.vehicles[0].trip is None and inputs.vehicles[0].run_id is None
    assert inputs.trips == ()


def test_a_tracking_run_not_yet_in_progress_has_its_trip_but_no_trip_update():
    hot = FleetHotState(
        vehicles=(VehicleHotState("v", position_fields(NOW - 5), current_run="7"),),
        runs={"7": run_hot_state("7")},
        tracking=frozenset({"7"}),
    )

    inputs = assemble(hot, now=NOW)

    assert inputs.vehicles[0].trip.trip_id == "T-101"
    assert inputs.trips == ()


def test_a_claim_by_a_run_that_is_not_active_does_not_attach_its_trip():
    hot = FleetHotState(
        vehicles=(VehicleHotState("v", position_fields(NOW - 5), current_run="7"),),
        runs={},
    )
    assert assemble(hot, now=NOW).vehicles[0].trip is None


def test_an_in_progress_run_without_predictions_is_left_out_of_trip_updates():
    hot = FleetHotState(
        vehicles=(VehicleHotState("v", position_fields(NOW - 5), current_run="7"),),
        runs={"7": run_hot_state("7", updates=False)},
        tracking=frozenset({"7"}),
        in_progress=frozenset({"7"}),
    )

    inputs = assemble(hot, now=NOW)

    assert inputs.vehicles[0].run_id == "7"
    assert inputs.trips == ()


def test_a_vehicle_silent_for_longer_than_the_limit_leaves_vehicle_positions():
    hot = FleetHotState(
        vehicles=(
            VehicleHotState("old", position_fields(NOW - settings.FEED_VEHICLE_MAX_AGE_S - 1)),
            VehicleHotState("recent", position_fields(NOW - settings.FEED_VEHICLE_MAX_AGE_S)),
            VehicleHotState("unreadable", {"latitude": "north"}),
        )
    )
    assert [e.vehicle.vehicle_id for e in assemble(hot, now=NOW).vehicles] == ["recent"]
    # The operator's setting (FEED_VEHICLE_MAX_AGE_S) moves the limit.
    strict = assemble(hot, now=NOW, vehicle_max_age_s=90)
    assert strict.vehicles == ()


def test_entity_timestamps_never_pass_the_build_time():
    # A vehicle clock 30 s ahead (accepted by the ingress) must not date an entity
    # after the feed header.
    hot = FleetHotState(
        vehicles=(VehicleHotState("v", position_fields(NOW + 30), current_run="7"),),
        runs={"7": run_hot_state("7")},
        in_progress=frozenset({"7"}),
    )

    inputs = assemble(hot, now=NOW - 40)

    assert inputs.vehicles[0].position.timestamp == NOW - 40
    assert inputs.trips[0].timestamp == NOW - 40


def test_a_trip_missing_a_descriptor_field_is_not_published_as_a_trip():
    incomplete = trip.TripDescriptor(trip_id="T-9", route_id="R1")
    hot = FleetHotState(
        vehicles=(VehicleHotState("v", position_fields(NOW - 5), current_run="7"),),
        runs={
            "7": RunHotState(
                "7",
                trip=trip.validate_for_write(incomplete),
                stop_time_updates=updates_fields(NOW - 5),
            )
        },
        in_progress=frozenset({"7"}),
    )

    inputs = assemble(hot, now=NOW)

    assert inputs.vehicles[0].trip is None
    assert inputs.trips == ()


def in_progress_fleet(run_hot: RunHotState) -> FleetHotState:
    return FleetHotState(
        vehicles=(VehicleHotState("v", position_fields(NOW - 5), current_run=run_hot.run_id),),
        runs={run_hot.run_id: run_hot},
        tracking=frozenset({run_hot.run_id}),
        in_progress=frozenset({run_hot.run_id}),
    )


def test_stop_time_updates_older_than_the_bound_are_not_published():
    # Matching stopped (a database outage): the last predictions must not be served
    # under a fresh header.
    fresh = replace(
        run_hot_state("7"),
        stop_time_updates=updates_fields(NOW - settings.FEED_STOP_TIME_UPDATE_MAX_AGE_S),
    )
    stale = replace(
        run_hot_state("7"),
        stop_time_updates=updates_fields(NOW - settings.FEED_STOP_TIME_UPDATE_MAX_AGE_S - 1),
    )
    skipped: list[EntitySkip] = []

    assert [e.run_id for e in assemble(in_progress_fleet(fresh), now=NOW).trips] == ["7"]
    inputs = assemble(in_progress_fleet(stale), now=NOW, on_skip=skipped.append)

    assert inputs.trips == ()
    assert inputs.vehicles[0].run_id == "7"  # the vehicle is still where it is
    [skip] = skipped
    assert (skip.feed, skip.key, skip.reason) == (
        "trip_updates",
        keys.run_stop_time_updates("7"),
        HotStateSkip.STALE_STOP_TIME_UPDATES,
    )
    # The operator's setting (FEED_settings.FEED_STOP_TIME_UPDATE_MAX_AGE_S) moves the bound.
    lenient = assemble(in_progress_fleet(stale), now=NOW, stop_time_update_max_age_s=600)
    assert [e.run_id for e in lenient.trips] == ["7"]


def test_each_unusable_record_is_reported_with_its_key_and_the_rest_assembled():
    loaded = occupancy.validate_for_write(occupancy.Occupancy("loaded", NOW - 5, NOW - 5, 40))
    hot = FleetHotState(
        vehicles=(
            VehicleHotState("good", position_fields(NOW - 5)),
            VehicleHotState("lost", {**position_fields(NOW - 5), "latitude": "north"}),
            VehicleHotState(
                "fast", {**position_fields(NOW - 5), "speed": "1e308"}, current_run="8"
            ),
            VehicleHotState(
                "loaded",
                position_fields(NOW - 5),
                occupancy={**loaded, "occupancy_percentage": "4294967296"},
            ),
        ),
        runs={
            "7": run_hot_state("7"),
            "8": replace(run_hot_state("8"), stop_time_updates={"timestamp": "1", "updates": "x"}),
            "9": replace(run_hot_state("9"), trip={"trip_id": "T-9", "direction_id": "2"}),
        },
        tracking=frozenset({"8"}),
        in_progress=frozenset({"7", "8", "9"}),
    )
    skipped: list[EntitySkip] = []

    inputs = assemble(hot, now=NOW, on_skip=skipped.append)

    by_vehicle = {e.vehicle.vehicle_id: e for e in inputs.vehicles}
    assert set(by_vehicle) == {"good", "fast", "loaded"}
    assert by_vehicle["fast"].position.speed is None
    assert by_vehicle["fast"].trip.trip_id == "T-101"
    assert by_vehicle["loaded"].occupancy == OccupancySnapshot(
        OccupancyStatusCode.NO_DATA_AVAILABLE
    )
    assert [e.run_id for e in inputs.trips] == ["7"]
    assert {(s.feed, s.key, s.reason) for s in skipped} == {
        ("vehicle_positions", keys.vehicle_position("lost"), HotStateSkip.BAD_POSITION),
        ("vehicle_positions", keys.vehicle_position("fast"), HotStateSkip.BAD_POSITION),
        ("vehicle_positions", keys.vehicle_occupancy("loaded"), HotStateSkip.BAD_OCCUPANCY),
        ("trip_updates", keys.run_stop_time_updates("8"), HotStateSkip.BAD_STOP_TIME_UPDATES),
        ("trip_updates", keys.run_trip("9"), HotStateSkip.BAD_TRIP),
    }
    # Nothing is reported for records that are simply absent (no occupancy, no predictions).
    assert (
        assemble(
            in_progress_fleet(run_hot_state("7", updates=False)), now=NOW, on_skip=skipped.append
        ).trips
        == ()
    )
    assert len(skipped) == 5
