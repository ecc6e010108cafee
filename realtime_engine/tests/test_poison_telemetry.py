"""Poison values through the broker and a real consumer: refused into the DLQ with their
reason, and the GTFS-RT feeds built afterwards still carry every vehicle.

Before the telemetry bounds, ``occupancy_percentage`` 4294967296 passed validation and
then made every build raise (the proto field is uint32), freezing both feeds; a speed of
1e308 was stored and published as Infinity (the proto field is float32).
"""

from __future__ import annotations

import math
import time

from google.transit import gtfs_realtime_pb2 as rt

from realtime_engine.ingest import dlq
from realtime_engine.ingest.topics import TelemetryLeaf, vehicle_topic
from realtime_engine.tests.mqtt_support import publish
from runs.domain.telemetry.rejection import RejectReason
from schedule_engine.feeds.store import FeedName, feed_get
from schedule_engine.feeds.tasks import feeds_publish
from schedule_engine.feeds.tests.fleet_hot_state import write_fleet
from tests.support.processes import wait_for
from tests.support.vehicles import register_vehicles

POS = TelemetryLeaf.POSITION
OCC = TelemetryLeaf.OCCUPANCY


def stored_feed(client, name: FeedName) -> rt.FeedMessage:
    message = rt.FeedMessage()
    message.ParseFromString(feed_get(client, name).payload)
    return message


def test_poison_occupancy_and_speed_are_dead_lettered_and_the_feeds_keep_every_vehicle(
    consumers, system_broker, topic_root, redis_client, history_rows
):
    now = int(time.time())
    fleet = write_fleet(redis_client, now)  # bus-1 on run 101 (in progress), bus-9, run 102
    register_vehicles(["bus-2", "bus-3", "bus-4"])  # those that publish below
    consumers.start(system_broker)
    good = [
        (
            vehicle_topic(topic_root, vid, POS),
            {"latitude": 38.9, "longitude": lon, "speed": 8.0, "timestamp": now - 2},
        )
        for vid, lon in (("bus-2", -77.01), ("bus-3", -77.02), ("bus-4", -77.03))
    ]
    good.append((vehicle_topic(topic_root, "bus-2", OCC), {"occupancy_percentage": 40}))
    publish(system_broker, good)
    wait_for(lambda: len(history_rows()) == 3, 10, "the three good positions")

    poison_occupancy = vehicle_topic(topic_root, "bus-2", OCC)
    poison_speed = vehicle_topic(topic_root, "bus-3", POS)
    publish(
        system_broker,
        [
            (poison_occupancy, {"occupancy_percentage": 4294967296}),
            (poison_speed, {"latitude": 38.91, "longitude": -77.02, "speed": 1e308}),
            (
                vehicle_topic(topic_root, "bus-4", POS),
                {"latitude": 38.92, "longitude": -77.03, "timestamp": now - 1},
            ),
        ],
    )
    wait_for(lambda: len(history_rows("bus-4")) == 2, 10, "the control position")

    letters = {letter.topic: letter.reason for letter in dlq.read(redis_client, count=10)}
    assert letters == {
        poison_occupancy: RejectReason.OCCUPANCY_OUT_OF_RANGE.value,
        poison_speed: RejectReason.SPEED_OUT_OF_RANGE.value,
    }

    published = feeds_publish(redis_client)

    vehicles = stored_feed(redis_client, FeedName.VEHICLE_POSITIONS)
    by_id = {e.id: e.vehicle for e in vehicles.entity}
    assert set(by_id) == {
        fleet.vehicle_on_run,
        fleet.vehicle_without_run,
        "bus-2",
        "bus-3",
        "bus-4",
    }
    assert by_id["bus-2"].occupancy_percentage == 40  # the last good value stands
    assert by_id["bus-3"].position.speed == 8.0
    assert all(math.isfinite(v.position.speed) for v in by_id.values())
    trips = stored_feed(redis_client, FeedName.TRIP_UPDATES)
    assert {e.id for e in trips.entity} == {fleet.in_progress_run, fleet.canceled_run}
    assert published[FeedName.VEHICLE_POSITIONS].entity_count == 5
