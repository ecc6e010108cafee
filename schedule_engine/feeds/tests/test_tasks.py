"""Publishing both feeds from hand-written hot state, directly and through a real beat worker."""

from __future__ import annotations

import time

from google.transit import gtfs_realtime_pb2 as rt

from databus import keys
from schedule_engine.feeds.store import HOT_STATE_FEEDS, FeedName, feed_get
from schedule_engine.feeds.tasks import feeds_publish
from schedule_engine.feeds.tests.fleet_hot_state import write_fleet
from tests.support.processes import wait_for


def stored_message(client, name: FeedName) -> rt.FeedMessage:
    message = rt.FeedMessage()
    message.ParseFromString(feed_get(client, name).payload)
    return message


def test_both_feeds_are_stored_as_gtfs_rt_2_full_datasets(db, redis_client):
    now = int(time.time())
    fleet = write_fleet(redis_client, now)

    published = feeds_publish(redis_client, now=now)

    vehicles = stored_message(redis_client, FeedName.VEHICLE_POSITIONS)
    trips = stored_message(redis_client, FeedName.TRIP_UPDATES)
    for message in (vehicles, trips):
        assert message.header.gtfs_realtime_version == "2.0"
        assert message.header.incrementality == rt.FeedHeader.FULL_DATASET
        assert message.header.timestamp == now
    assert sorted(e.vehicle.vehicle.id for e in vehicles.entity) == [
        fleet.vehicle_on_run,
        fleet.vehicle_without_run,
    ]
    relationships = {e.id: e.trip_update.trip.schedule_relationship for e in trips.entity}
    assert relationships == {
        fleet.in_progress_run: rt.TripDescriptor.SCHEDULED,
        fleet.canceled_run: rt.TripDescriptor.CANCELED,
    }
    assert fleet.vehicle_without_run not in {e.trip_update.vehicle.id for e in trips.entity}
    assert published[FeedName.VEHICLE_POSITIONS].entity_count == 2
    assert published[FeedName.TRIP_UPDATES].entity_count == 2
    assert feed_get(redis_client, FeedName.TRIP_UPDATES).summary == published[FeedName.TRIP_UPDATES]


def test_the_header_timestamp_never_decreases_across_builds(db, redis_client):
    now = int(time.time())
    write_fleet(redis_client, now)

    feeds_publish(redis_client, now=now)
    # The next build runs on a host whose clock is 30 s behind.
    feeds_publish(redis_client, now=now - 30)
    behind = stored_message(redis_client, FeedName.TRIP_UPDATES).header.timestamp
    feeds_publish(redis_client, now=now + 15)
    later = stored_message(redis_client, FeedName.VEHICLE_POSITIONS).header.timestamp

    assert behind == now
    assert later == now + 15


def test_a_beat_worker_publishes_the_feeds_within_seconds(
    redis_client, process_env, celery_worker_factory
):
    write_fleet(redis_client, int(time.time()))
    worker = celery_worker_factory({**process_env, "FEED_BUILD_INTERVAL_S": "1"}, beat=True)

    try:
        wait_for(
            lambda: all(redis_client.exists(keys.feed(name)) for name in HOT_STATE_FEEDS),
            timeout=30,
            what="both feeds in Redis",
            interval=0.2,
        )
    except TimeoutError:
        raise AssertionError(worker.log()) from None
    first = stored_message(redis_client, FeedName.TRIP_UPDATES).header.timestamp
    # Built again on the next beat: the header moves on.
    wait_for(
        lambda: stored_message(redis_client, FeedName.TRIP_UPDATES).header.timestamp > first,
        timeout=10,
        what="a second build",
        interval=0.2,
    )
    assert len(stored_message(redis_client, FeedName.TRIP_UPDATES).entity) == 2
