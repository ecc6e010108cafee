"""The next trip of a run's block in TripUpdates; frequency trips as the spec publishes them;
the vehicle descriptor's public fields.

Runs are written on ``operations_network``'s network (block B1: T1 08:00-08:10, then T2
08:20-08:30, a 600 s layover) as the lifecycle and the matcher write them, the feeds
built by the build task, and read back with gtfs-realtime-bindings.
"""

from __future__ import annotations

import datetime as dt

import pytest
from google.transit import gtfs_realtime_pb2 as rt

from databus import keys
from runs.domain.projections.trip_operations import TripOperationKind, TripOperationRecord
from schedule_engine.feeds.store import FeedName, feed_get
from schedule_engine.feeds.tasks import feeds_publish
from schedule_engine.feeds.tests.operations_network import (
    LAYOVER_S,
    SCHEDULE,
    origin,
    scheduled_updates,
    write_network_run,
    write_operation,
    yyyymmdd,
)

DAY = dt.date(2026, 12, 1)
NOW = origin(DAY) + 8 * 3600 + 400  # 08:06:40 in New York: T1 under way
STU = rt.TripUpdate.StopTimeUpdate


def published(client, name: FeedName) -> dict[str, rt.FeedEntity]:
    message = rt.FeedMessage()
    message.ParseFromString(feed_get(client, name).payload)
    return {entity.id: entity for entity in message.entity}


def build(client, now: int = NOW) -> dict[str, rt.FeedEntity]:
    feeds_publish(client, now=now)
    return published(client, FeedName.TRIP_UPDATES)


def run_on_t1(client, *, late_s: int, at: int = NOW) -> None:
    updates = scheduled_updates("T1", DAY, late_s=late_s, from_sequence=3)
    write_network_run(client, "r1", "bus-1", "T1", DAY, at=at, updates=updates)


def arrivals(entity: rt.FeedEntity) -> list[tuple[int, str, int]]:
    return [
        (u.stop_sequence, u.stop_id, u.arrival.time) for u in entity.trip_update.stop_time_update
    ]


def test_a_late_bus_s_next_trip_is_predicted_late_by_its_delay_minus_the_layover(
    network, redis_client
):
    run_on_t1(redis_client, late_s=900)  # 15 min late at its last stop

    following = build(redis_client)["r1:next"]

    trip = following.trip_update.trip
    assert (trip.trip_id, trip.start_date, trip.start_time, trip.route_id) == (
        "T2",
        yyyymmdd(DAY),
        "08:20:00",
        "R1",
    )
    assert trip.schedule_relationship == rt.TripDescriptor.SCHEDULED
    assert following.trip_update.vehicle.id == "bus-1"
    base = origin(DAY)
    assert arrivals(following) == [
        (seq, stop, base + arrival + 900 - LAYOVER_S) for seq, stop, arrival in SCHEDULE["T2"]
    ]


def test_a_bus_late_by_less_than_the_layover_starts_its_next_trip_on_time(network, redis_client):
    run_on_t1(redis_client, late_s=LAYOVER_S - 60)

    following = build(redis_client)["r1:next"]

    base = origin(DAY)
    assert arrivals(following) == [(seq, stop, base + arr) for seq, stop, arr in SCHEDULE["T2"]]


def test_no_next_trip_when_a_run_claims_it_or_a_dispatcher_cancelled_it(network, redis_client):
    run_on_t1(redis_client, late_s=900)
    assert "r1:next" in build(redis_client)

    # Its own run starts (the lifecycle marks that run): its TripUpdate replaces the guess.
    write_network_run(
        redis_client,
        "r2",
        "bus-2",
        "T2",
        DAY,
        at=NOW + 15,
        updates=scheduled_updates("T2", DAY),
        start_time="08:20:00",
    )
    assert set(build(redis_client, NOW + 15)) == {"r1", "r2"}

    redis_client.srem(keys.RUNS_IN_PROGRESS, "r2")
    redis_client.srem(keys.RUNS_TRACKING, "r2")
    redis_client.delete(keys.trip_current_run("T2"))
    redis_client.sadd(keys.FEED_DIRTY_RUNS, "r2")
    run_on_t1(redis_client, late_s=900, at=NOW + 30)
    assert "r1:next" in build(redis_client, NOW + 30)

    cancel = TripOperationRecord(
        operation_id="5",
        kind=TripOperationKind.CANCEL,
        trip_id="T2",
        start_date=yyyymmdd(DAY),
        active_from=NOW,
        active_until=NOW + 3600,
    )
    write_operation(redis_client, cancel)
    assert set(build(redis_client, NOW + 45)) == {"r1", "cancel-5"}


def test_a_headway_based_trip_is_unscheduled_in_both_feeds_and_an_exact_times_one_scheduled(
    network, redis_client
):
    base = origin(DAY)
    write_network_run(
        redis_client,
        "r9",
        "bus-9",
        "HEADWAY",
        DAY,
        at=base + 10 * 3600 + 1800 + 60,
        updates=((1, "S1", base + 10 * 3600 + 1800 + 90), (2, "S4", base + 10 * 3600 + 2800)),
        start_time="10:30:00",
    )
    write_network_run(
        redis_client,
        "r8",
        "bus-8",
        "FREQ",
        DAY,
        at=base + 10 * 3600 + 1800 + 60,
        updates=((3, "S3", base + 10 * 3600 + 1900), (4, "S4", base + 10 * 3600 + 2100)),
        start_time="06:20:00",
    )

    trips = build(redis_client, base + 10 * 3600 + 1800 + 60)
    vehicles = published(redis_client, FeedName.VEHICLE_POSITIONS)

    headway = trips["r9"].trip_update
    assert headway.trip.schedule_relationship == rt.TripDescriptor.UNSCHEDULED
    assert headway.trip.start_time == "10:30:00"  # the spec requires it of such a trip
    assert {u.schedule_relationship for u in headway.stop_time_update} == {STU.UNSCHEDULED}
    assert vehicles["bus-9"].vehicle.trip.schedule_relationship == rt.TripDescriptor.UNSCHEDULED
    exact = trips["r8"].trip_update
    assert exact.trip.schedule_relationship == rt.TripDescriptor.SCHEDULED
    assert exact.trip.start_time == "06:20:00"
    assert {u.schedule_relationship for u in exact.stop_time_update} == {STU.SCHEDULED}
    assert vehicles["bus-8"].vehicle.trip.schedule_relationship == rt.TripDescriptor.SCHEDULED


@pytest.mark.parametrize(
    ("label", "plate", "expected"),
    [(True, False, ("Bus 1", "")), (False, True, ("", "NY-1234")), (False, False, ("", ""))],
)
def test_the_settings_say_which_descriptor_fields_riders_see_in_both_feeds(
    network, redis_client, settings, label, plate, expected
):
    settings.FEED_PUBLISH_VEHICLE_LABEL = label
    settings.FEED_PUBLISH_LICENSE_PLATE = plate
    run_on_t1(redis_client, late_s=0)

    trips = build(redis_client)
    vehicles = published(redis_client, FeedName.VEHICLE_POSITIONS)

    for descriptor in (trips["r1"].trip_update.vehicle, vehicles["bus-1"].vehicle.vehicle):
        assert (descriptor.label, descriptor.license_plate) == expected
        assert descriptor.id == "bus-1"
        assert descriptor.wheelchair_accessible == rt.VehicleDescriptor.WHEELCHAIR_ACCESSIBLE
