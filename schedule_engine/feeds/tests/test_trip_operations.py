"""The dispatchers' trip operations reach the next TripUpdates, incremental or full, and leave them.

The operations are written as the trip-operations service stores them
(``keys.TRIP_OPERATIONS``, through the contract's ``encode``), runs as the lifecycle and
the matcher write them; the feed is built by the build task against the imported
network (``operations_network``) and read back with gtfs-realtime-bindings.
"""

from __future__ import annotations

import datetime as dt

import pytest
from google.transit import gtfs_realtime_pb2 as rt

from databus import keys
from databus.metrics import REGISTRY
from runs.domain.projections.trip_operations import (
    AddedStopTime,
    TripOperationKind,
    TripOperationRecord,
)
from schedule_engine.feeds.entity_cache import META_FULL_AT
from schedule_engine.feeds.store import FeedName, feed_get
from schedule_engine.feeds.tasks import feeds_publish
from schedule_engine.feeds.tests.operations_network import (
    end_operation,
    origin,
    scheduled_updates,
    write_network_run,
    write_operation,
    yyyymmdd,
)

DAY = dt.date(2026, 12, 1)
NOW = origin(DAY) + 8 * 3600 + 120  # 08:02 in New York: T1 under way
TU = rt.TripUpdate
SKIPPED = TU.StopTimeUpdate.SKIPPED


def trip_updates(client) -> dict[str, rt.FeedEntity]:
    message = rt.FeedMessage()
    message.ParseFromString(feed_get(client, FeedName.TRIP_UPDATES).payload)
    return {entity.id: entity for entity in message.entity}


def build(client, now: int, *, full: bool = False) -> dict[str, rt.FeedEntity]:
    if full:
        client.delete(keys.FEED_CACHE_META)
    feeds_publish(client, now=now)
    return trip_updates(client)


def operation(kind: TripOperationKind, trip_id: str, op_id: str = "1", **fields):
    return TripOperationRecord(
        operation_id=op_id,
        kind=kind,
        trip_id=trip_id,
        start_date=yyyymmdd(DAY),
        active_from=fields.pop("active_from", NOW - 600),
        active_until=fields.pop("active_until", NOW + 7200),
        **fields,
    )


def add_trip(op_id: str = "7", *, stop: str = "S4") -> TripOperationRecord:
    return operation(
        TripOperationKind.ADD,
        "EXTRA-7",
        op_id,
        route_id="R1",
        direction_id=0,
        start_time="08:30:00",
        vehicle_id="bus-7",
        stop_times=(
            AddedStopTime(1, "S1", NOW + 600, NOW + 630),
            AddedStopTime(2, stop, NOW + 1200, NOW + 1200),
        ),
    )


def last_full_at(client) -> float:
    return float(client.hget(keys.FEED_CACHE_META, META_FULL_AT))


@pytest.mark.parametrize("full", [False, True], ids=["incremental", "full"])
def test_a_trip_cancelled_ahead_is_canceled_in_the_next_trip_updates_until_re_enabled(
    network, redis_client, full
):
    build(redis_client, NOW)
    write_operation(redis_client, operation(TripOperationKind.CANCEL, "T3"))

    published = build(redis_client, NOW + 15, full=full)

    trip = published["cancel-1"].trip_update.trip
    assert (trip.trip_id, trip.start_date, trip.start_time, trip.route_id) == (
        "T3",
        "20261201",
        "",
        "R1",  # taken from the schedule: the operation did not say it
    )
    assert trip.schedule_relationship == rt.TripDescriptor.CANCELED
    assert not published["cancel-1"].trip_update.stop_time_update
    end_operation(redis_client, "1")  # re-enabled
    assert "cancel-1" not in build(redis_client, NOW + 30, full=full)
    assert full or last_full_at(redis_client) == NOW


def test_an_operation_is_published_only_within_its_active_period(network, redis_client):
    later = operation(TripOperationKind.CANCEL, "T3", active_from=NOW + 60, active_until=NOW + 120)
    write_operation(redis_client, later)

    assert "cancel-1" not in build(redis_client, NOW)
    assert "cancel-1" in build(redis_client, NOW + 60)
    assert "cancel-1" not in build(redis_client, NOW + 120)
    assert last_full_at(redis_client) == NOW


@pytest.mark.parametrize("full", [False, True], ids=["incremental", "full"])
def test_an_added_trip_is_new_with_its_stop_times_and_its_vehicle(network, redis_client, full):
    redis_client.hset(
        keys.vehicle_metadata("bus-7"),
        mapping={
            "id": "bus-7",
            "label": "Bus 7",
            "license_plate": "",
            "wheelchair_accessible": "0",
        },
    )
    build(redis_client, NOW)
    write_operation(redis_client, add_trip())

    added = build(redis_client, NOW + 15, full=full)["add-7"].trip_update

    assert added.trip.schedule_relationship == rt.TripDescriptor.NEW
    assert (added.trip.trip_id, added.trip.route_id, added.trip.direction_id) == (
        "EXTRA-7",
        "R1",
        0,
    )
    assert (added.trip.start_date, added.trip.start_time) == ("20261201", "08:30:00")
    assert (added.vehicle.id, added.vehicle.label) == ("bus-7", "Bus 7")
    assert added.vehicle.wheelchair_accessible == rt.VehicleDescriptor.WHEELCHAIR_INACCESSIBLE
    assert [
        (u.stop_sequence, u.stop_id, u.arrival.time, u.departure.time, u.arrival.scheduled_time)
        for u in added.stop_time_update
    ] == [(1, "S1", NOW + 600, NOW + 630, NOW + 600), (2, "S4", NOW + 1200, NOW + 1200, NOW + 1200)]
    end_operation(redis_client, "7")
    assert "add-7" not in build(redis_client, NOW + 30, full=full)


def test_an_added_trip_is_added_where_the_settings_ask_for_the_deprecated_value(
    network, redis_client, settings
):
    settings.FEED_ADDED_TRIPS_AS_ADDED = True
    write_operation(redis_client, add_trip())

    added = build(redis_client, NOW)["add-7"].trip_update

    assert added.trip.schedule_relationship == rt.TripDescriptor.ADDED
    assert not added.stop_time_update[0].arrival.HasField("scheduled_time")  # NEW's alone


def test_an_added_trip_at_a_stop_the_schedule_lacks_is_not_published(network, redis_client):
    write_operation(redis_client, add_trip(stop="NOWHERE"))

    assert "add-7" not in build(redis_client, NOW)


@pytest.mark.parametrize("full", [False, True], ids=["incremental", "full"])
def test_skipped_stops_are_skipped_in_the_trip_update_of_the_run_operating_the_trip(
    network, redis_client, full
):
    write_network_run(
        redis_client, "r1", "bus-1", "T1", DAY, at=NOW, updates=scheduled_updates("T1", DAY)
    )
    build(redis_client, NOW)
    skip = operation(TripOperationKind.SKIP_STOPS, "T1", skipped_stop_sequences=(2, 3))
    write_operation(redis_client, skip)

    published = build(redis_client, NOW + 15, full=full)  # the run itself did not change

    assert "skip-1" not in published  # merged into the run's
    updates = published["r1"].trip_update.stop_time_update
    assert [(u.stop_sequence, u.schedule_relationship) for u in updates] == [
        (1, TU.StopTimeUpdate.SCHEDULED),
        (2, SKIPPED),
        (3, SKIPPED),
        (4, TU.StopTimeUpdate.SCHEDULED),
    ]
    assert not updates[1].HasField("arrival") and not updates[1].HasField("departure")
    end_operation(redis_client, "1")
    updates = build(redis_client, NOW + 30, full=full)["r1"].trip_update.stop_time_update
    assert SKIPPED not in [u.schedule_relationship for u in updates]
    assert full or last_full_at(redis_client) == NOW


def test_skipped_stops_of_a_trip_no_run_operates_are_a_trip_update_of_skipped_stops(
    network, redis_client
):
    build(redis_client, NOW)
    write_operation(
        redis_client, operation(TripOperationKind.SKIP_STOPS, "T3", skipped_stop_sequences=(3, 2))
    )

    skipped = build(redis_client, NOW + 15)["skip-1"].trip_update

    assert (skipped.trip.trip_id, skipped.trip.route_id) == ("T3", "R1")
    assert skipped.trip.schedule_relationship == rt.TripDescriptor.SCHEDULED
    assert [(u.stop_sequence, u.schedule_relationship) for u in skipped.stop_time_update] == [
        (2, SKIPPED),
        (3, SKIPPED),
    ]


def skipped_operations() -> float:
    labels = {"feed": "trip_updates", "reason": "bad_trip_operation"}
    return REGISTRY.get_sample_value("databus_feed_entities_skipped_total", labels) or 0.0


def test_a_bad_operation_is_skipped_and_counted_on_every_build_while_the_rest_is_published(
    network, redis_client
):
    write_operation(redis_client, operation(TripOperationKind.CANCEL, "T3"))
    redis_client.hset(keys.TRIP_OPERATIONS, "2", '{"kind": "cancel", "trip_id": 5}')
    before = skipped_operations()

    first = build(redis_client, NOW)
    second = build(redis_client, NOW + 15)

    assert set(first) == set(second) == {"cancel-1"}
    assert skipped_operations() - before == 2
