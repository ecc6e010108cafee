"""A hot-state record corrupted by hand (HSET straight into Redis): the feed build skips
that entity, or that part of it, counts it, logs it once, and publishes everything else."""

from __future__ import annotations

import logging
import time

import pytest
import redis
from google.transit import gtfs_realtime_pb2 as rt

from databus import keys
from databus.metrics import REGISTRY
from schedule_engine.feeds.metrics import skipped_counts_add, skipped_family
from schedule_engine.feeds.skips import logged_keys_forget
from schedule_engine.feeds.snapshots import HotStateSkip
from schedule_engine.feeds.store import FeedName, feed_get
from schedule_engine.feeds.tasks import feeds_publish
from schedule_engine.feeds.tests.fleet_hot_state import (
    TRIP_101,
    write_fleet,
    write_progression,
    write_run,
    write_vehicle,
)

# The build reads the current GTFS version's ids (none here: nothing to filter against).
pytestmark = pytest.mark.django_db

SKIPPED = "databus_feed_entities_skipped_total"


def skipped(feed: str, reason: HotStateSkip) -> float:
    return REGISTRY.get_sample_value(SKIPPED, {"feed": feed, "reason": reason.value}) or 0.0


def stored_feed(client, name: FeedName) -> rt.FeedMessage:
    message = rt.FeedMessage()
    message.ParseFromString(feed_get(client, name).payload)
    return message


@pytest.fixture(autouse=True)
def _fresh_log_memory():
    logged_keys_forget()


def test_a_corrupted_record_is_skipped_counted_and_the_rest_of_both_feeds_built(
    redis_client, caplog
):
    now = int(time.time())
    fleet = write_fleet(redis_client, now)
    for vid in ("bus-5", "bus-6"):
        write_vehicle(redis_client, vid, at=now - 4, percentage=30)
    # A second in-progress run, on bus-6, whose predictions get corrupted.
    write_run(redis_client, "104", "bus-6", TRIP_101, state="In Progress", last_event_at=now)
    redis_client.set(keys.vehicle_current_run("bus-6"), "104")
    redis_client.sadd(keys.RUNS_IN_PROGRESS, "104")
    write_progression(redis_client, "104", at=now - 4)

    redis_client.hset(keys.vehicle_position("bus-5"), "latitude", "north")
    redis_client.hset(keys.vehicle_occupancy("bus-1"), "occupancy_percentage", "4294967296")
    redis_client.hset(keys.vehicle_position("bus-6"), "speed", b"\xff\xfe not text")
    redis_client.hset(keys.run_stop_time_updates("104"), "updates", "[[3, 'S3'")
    before = {
        reason: skipped(feed, reason)
        for feed, reason in (
            ("vehicle_positions", HotStateSkip.BAD_POSITION),
            ("vehicle_positions", HotStateSkip.BAD_OCCUPANCY),
            ("trip_updates", HotStateSkip.BAD_STOP_TIME_UPDATES),
        )
    }

    with caplog.at_level(logging.WARNING, logger="schedule_engine.feeds.skips"):
        feeds_publish(redis_client, now=now)
        feeds_publish(redis_client, now=now + 1)

    vehicles = {
        e.id: e.vehicle for e in stored_feed(redis_client, FeedName.VEHICLE_POSITIONS).entity
    }
    assert set(vehicles) == {fleet.vehicle_on_run, fleet.vehicle_without_run, "bus-6"}
    assert not vehicles[fleet.vehicle_on_run].HasField("occupancy_percentage")
    assert vehicles[fleet.vehicle_on_run].trip.trip_id == "T-101"
    assert not vehicles["bus-6"].position.HasField("speed")
    assert vehicles["bus-6"].occupancy_percentage == 30
    trips = {e.id for e in stored_feed(redis_client, FeedName.TRIP_UPDATES).entity}
    assert trips == {fleet.in_progress_run, fleet.canceled_run}

    # Counted on every build (two here), per feed and reason.
    assert (
        skipped("vehicle_positions", HotStateSkip.BAD_POSITION) - before[HotStateSkip.BAD_POSITION]
        == 4
    )  # bus-5's latitude and bus-6's speed, twice
    assert (
        skipped("vehicle_positions", HotStateSkip.BAD_OCCUPANCY)
        - before[HotStateSkip.BAD_OCCUPANCY]
        == 2
    )
    assert (
        skipped("trip_updates", HotStateSkip.BAD_STOP_TIME_UPDATES)
        - before[HotStateSkip.BAD_STOP_TIME_UPDATES]
        == 2
    )
    # Logged once per key, naming it.
    logged = [r.getMessage() for r in caplog.records]
    for key in (
        keys.vehicle_position("bus-5"),
        keys.vehicle_position("bus-6"),
        keys.vehicle_occupancy("bus-1"),
        keys.run_stop_time_updates("104"),
    ):
        assert sum(key in line for line in logged) == 1, (key, logged)


def test_the_exported_count_holds_only_the_fields_the_readers_wrote():
    family = skipped_family(
        {"trip_updates|bad_trip": "3", "nonsense": "1", "vehicle_positions|bad_position": "x"}
    )

    assert [(s.name, s.labels, s.value) for s in family.samples] == [
        (SKIPPED, {"feed": "trip_updates", "reason": "bad_trip"}, 3.0)
    ]


def test_counting_a_skip_with_redis_down_is_logged_and_never_fails_the_read(caplog):
    from tests.support.processes import free_port

    down = redis.Redis(port=free_port(), socket_connect_timeout=0.2)

    skipped_counts_add(down, {("trip_updates", "bad_trip"): 1})

    assert "skipped-entity counts not written" in caplog.text
