"""MQTT publish → consumer → typed hot state, position history, runs:last_seen, observers."""

from __future__ import annotations

import time

import pytest

from databus import keys
from realtime_engine.ingest import metrics
from realtime_engine.ingest.batch import AcceptedBatch
from realtime_engine.ingest.topics import TelemetryLeaf, vehicle_topic
from realtime_engine.tests.mqtt_support import publish
from runs.domain.telemetry import occupancy, position
from runs.domain.telemetry.occupancy import OccupancyStatus
from tests.support.processes import wait_for
from tests.support.vehicles import register_vehicles


@pytest.fixture(autouse=True)
def fleet(transactional_db) -> None:
    """The vehicles these tests publish for: registered, as ingest trusts no other."""
    register_vehicles(["bus-1", "bus-2", "bus-3", "bus-4", "a", "b"])


def now_s() -> int:
    return int(time.time())


def test_position_and_occupancy_become_typed_hot_state_history_and_last_seen(
    consumers, system_broker, topic_root, redis_client, history_rows
):
    redis_client.set(keys.vehicle_current_run("bus-1"), "run-42")
    consumers.start(system_broker)
    ts = now_s() - 5
    publish(
        system_broker,
        [
            (
                vehicle_topic(topic_root, "bus-1", TelemetryLeaf.POSITION),
                {
                    "latitude": 38.9,
                    "longitude": -77.03,
                    "bearing": 90,
                    "speed": 4.5,
                    "odometer": 1200,
                    "timestamp": ts,
                },
            ),
            (
                vehicle_topic(topic_root, "bus-1", TelemetryLeaf.OCCUPANCY),
                {
                    "occupancy_percentage": 55,
                    "occupancy_count": 40,
                    "occupancy_status": "EMPTY",
                    "timestamp": ts,
                },
            ),
        ],
    )
    wait_for(
        lambda: redis_client.exists(keys.vehicle_occupancy("bus-1")) and history_rows(),
        10,
        "hot state and history",
    )

    stored = position.from_redis("bus-1", redis_client.hgetall(keys.vehicle_position("bus-1")))
    assert (
        stored.latitude,
        stored.longitude,
        stored.bearing,
        stored.speed,
        stored.odometer,
        stored.timestamp,
    ) == (38.9, -77.03, 90.0, 4.5, 1200.0, ts)
    assert stored.received_at >= ts
    occ = occupancy.from_redis("bus-1", redis_client.hgetall(keys.vehicle_occupancy("bus-1")))
    assert (occ.percentage, occ.count, occ.status) == (55, 40, OccupancyStatus.STANDING_ROOM_ONLY)
    assert redis_client.hget(keys.vehicle_occupancy("bus-1"), "occupancy_status") == (
        "STANDING_ROOM_ONLY"
    )
    assert history_rows() == [("bus-1", ts)]
    assert redis_client.zscore(keys.RUNS_LAST_SEEN, "run-42") == ts


def test_a_vehicle_without_a_run_gets_no_last_seen_score(
    consumers, system_broker, topic_root, redis_client, history_rows
):
    consumers.start(system_broker)
    publish(
        system_broker,
        [
            (
                vehicle_topic(topic_root, "bus-2", TelemetryLeaf.POSITION),
                {"latitude": 1, "longitude": 2},
            )
        ],
    )
    wait_for(lambda: history_rows("bus-2"), 10, "history row")
    assert redis_client.zcard(keys.RUNS_LAST_SEEN) == 0


def test_duplicates_and_out_of_order_positions(
    consumers, system_broker, topic_root, redis_client, history_rows
):
    consumers.start(system_broker)
    topic = vehicle_topic(topic_root, "bus-3", TelemetryLeaf.POSITION)
    newer, older = now_s() - 10, now_s() - 70
    publish(
        system_broker,
        [
            (topic, {"latitude": 10, "longitude": 10, "timestamp": newer}),
            (topic, {"latitude": 9, "longitude": 9, "timestamp": older}),
            (topic, {"latitude": 10, "longitude": 10, "timestamp": newer}),
        ],
    )
    # Separate publishes so the older one also meets the stored newer one inside Redis.
    publish(system_broker, [(topic, {"latitude": 9, "longitude": 9, "timestamp": older})])
    publish(system_broker, [(topic, {"latitude": 10, "longitude": 10, "timestamp": newer})])
    wait_for(
        lambda: metrics.ACCEPTED.labels(entity="position")._value.get() >= 5, 10, "five accepted"
    )
    wait_for(lambda: len(history_rows("bus-3")) == 2, 10, "history rows")
    time.sleep(0.2)
    assert history_rows("bus-3") == [("bus-3", older), ("bus-3", newer)]
    stored = position.from_redis("bus-3", redis_client.hgetall(keys.vehicle_position("bus-3")))
    assert (stored.timestamp, stored.latitude) == (newer, 10.0)


def test_progression_is_counted_and_ignored(
    consumers, system_broker, topic_root, redis_client, history_rows
):
    before = metrics.RECEIVED.labels(entity="progression")._value.get()
    consumers.start(system_broker)
    publish(
        system_broker,
        [
            (vehicle_topic(topic_root, "bus-4", TelemetryLeaf.PROGRESSION), {"stop": 3}),
            (
                vehicle_topic(topic_root, "bus-4", TelemetryLeaf.POSITION),
                {"latitude": 1, "longitude": 1},
            ),
        ],
    )
    wait_for(lambda: history_rows("bus-4"), 10, "the position after it")
    assert metrics.RECEIVED.labels(entity="progression")._value.get() == before + 1
    assert redis_client.xlen(keys.TELEMETRY_DLQ) == 0
    assert sorted(redis_client.keys("vehicle:*")) == [keys.vehicle_position("bus-4")]


def test_observers_get_the_accepted_telemetry_and_a_failing_one_stops_nothing(
    consumers, system_broker, topic_root, redis_client, history_rows
):
    seen: list[AcceptedBatch] = []

    def record(batch: AcceptedBatch, client) -> None:
        assert client is not None
        seen.append(batch)

    def explode(batch: AcceptedBatch, client) -> None:
        raise RuntimeError("observer bug")

    failures = metrics.OBSERVER_ERRORS.labels(observer=explode.__qualname__)
    before = failures._value.get()
    consumers.start(system_broker, observers=(explode, record))
    ts = now_s() - 30
    publish(
        system_broker,
        [
            *[
                (
                    vehicle_topic(topic_root, "a", TelemetryLeaf.POSITION),
                    {"latitude": 1, "longitude": 1, "timestamp": ts + i},
                )
                for i in range(3)
            ],
            (vehicle_topic(topic_root, "b", TelemetryLeaf.OCCUPANCY), {"occupancy_percentage": 5}),
        ],
    )
    wait_for(lambda: sum(batch.message_count for batch in seen) == 4, 10, "4 observed")
    latest = {}
    for batch in seen:
        latest.update(batch.positions)
    assert latest["a"].timestamp == ts + 2
    assert [b.occupancies["b"].status for b in seen if "b" in b.occupancies] == [
        OccupancyStatus.MANY_SEATS_AVAILABLE
    ]
    assert failures._value.get() == before + len(seen)
    # History is written by its own thread, after the observers have run.
    wait_for(lambda: len(history_rows("a")) == 3, 10, "history despite the failing observer")
