"""Ingest trusts registered vehicles only: through the broker, a real consumer, PostgreSQL
and the GTFS-RT builder.

A vehicle with no row in the vehicles table is dead-lettered as ``unknown_vehicle`` and
reaches neither hot state, history, the batch observers nor VehiclePositions, unless the
agency allows unknown vehicles. A vehicle registered while ingest runs is accepted within
about a second, without a restart; the registry loaded before a PostgreSQL outage keeps
judging telemetry through it.
"""

from __future__ import annotations

import logging
import time

import pytest
from django.core.management import call_command
from django.db import OperationalError
from google.transit import gtfs_realtime_pb2 as rt

from databus import keys
from realtime_engine.ingest import dlq, metrics
from realtime_engine.ingest.topics import TelemetryLeaf, vehicle_topic
from realtime_engine.ingest.vehicle_registry import MISS_REFRESH_S, VehicleRegistry
from realtime_engine.tests.mqtt_support import publish
from realtime_engine.tests.test_store_restarts import answered, django_on
from runs.domain.telemetry.rejection import RejectReason
from runs.selectors import vehicle_ids_get
from schedule_engine.feeds.store import FeedName, feed_get
from schedule_engine.feeds.tasks import feeds_publish
from tests.support.processes import start_postgres, wait_for
from tests.support.vehicles import register_vehicles

POS = TelemetryLeaf.POSITION
OCC = TelemetryLeaf.OCCUPANCY


def fix(lon: float = -77.0, age_s: int = 2) -> dict:
    return {"latitude": 38.9, "longitude": lon, "timestamp": int(time.time()) - age_s}


def rejected_unknown(entity: str) -> float:
    return metrics.REJECTED.labels(entity=entity, reason=RejectReason.UNKNOWN_VEHICLE)._value.get()


def published_vehicle_ids(client) -> set[str]:
    feeds_publish(client)
    message = rt.FeedMessage()
    message.ParseFromString(feed_get(client, FeedName.VEHICLE_POSITIONS).payload)
    return {entity.vehicle.vehicle.id for entity in message.entity}


def test_an_unknown_vehicle_is_dead_lettered_and_never_reaches_state_history_or_the_feed(
    consumers, system_broker, topic_root, redis_client, history_rows
):
    register_vehicles(["bus-2"])
    observed: set[str] = set()
    consumers.start(
        system_broker,
        observers=(lambda batch, _: observed.update(p.vehicle_id for p in batch.history),),
    )
    positions_before, occupancies_before = rejected_unknown(POS), rejected_unknown(OCC)
    stranger_position = vehicle_topic(topic_root, "stranger", POS)
    stranger_occupancy = vehicle_topic(topic_root, "stranger", OCC)
    publish(
        system_broker,
        [
            (stranger_position, fix(-77.1)),
            (stranger_occupancy, {"occupancy_percentage": 40}),
            (vehicle_topic(topic_root, "bus-2", POS), fix()),
        ],
    )
    wait_for(lambda: history_rows("bus-2"), 10, "the registered vehicle's position")
    wait_for(lambda: dlq.length(redis_client) == 2, 10, "the stranger's two dead letters")

    letters = {letter.topic: letter for letter in dlq.read(redis_client, count=10)}
    assert {topic: letter.reason for topic, letter in letters.items()} == {
        stranger_position: "unknown_vehicle",
        stranger_occupancy: "unknown_vehicle",
    }
    assert "stranger" in letters[stranger_position].message
    assert not letters[stranger_position].truncated  # replayable once it is registered
    assert redis_client.keys("vehicle:*") == [keys.vehicle_position("bus-2")]
    assert [vid for vid, _ in history_rows()] == ["bus-2"]
    assert observed == {"bus-2"}
    assert rejected_unknown(POS) == positions_before + 1
    assert rejected_unknown(OCC) == occupancies_before + 1
    assert published_vehicle_ids(redis_client) == {"bus-2"}


def test_an_agency_may_allow_unknown_vehicles(
    consumers, system_broker, topic_root, redis_client, history_rows, settings
):
    settings.INGEST_ALLOW_UNKNOWN_VEHICLES = True
    consumers.start(system_broker)
    publish(system_broker, [(vehicle_topic(topic_root, "stranger", POS), fix())])
    wait_for(lambda: history_rows("stranger"), 10, "the unregistered vehicle's position")
    assert dlq.length(redis_client) == 0
    assert published_vehicle_ids(redis_client) == {"stranger"}


def test_a_vehicle_registered_while_ingest_runs_is_accepted_within_about_a_second(
    consumers, system_broker, topic_root, redis_client, history_rows
):
    register_vehicles(["bus-1"])
    consumers.start(system_broker)
    publish(
        system_broker,
        [
            (vehicle_topic(topic_root, "bus-1", POS), fix()),
            (vehicle_topic(topic_root, "new", POS), fix()),
        ],
    )
    wait_for(lambda: history_rows("bus-1"), 10, "the registered vehicle's position")
    wait_for(lambda: dlq.length(redis_client) == 1, 10, "the not yet registered vehicle refused")
    assert not history_rows("new")

    register_vehicles(["new"])
    registered_at = time.monotonic()
    # The vehicle keeps publishing at 5 Hz, as a tracker does; no restart of anything.
    while not history_rows("new"):
        assert time.monotonic() - registered_at < MISS_REFRESH_S + 2, "not accepted in time"
        publish(system_broker, [(vehicle_topic(topic_root, "new", POS), fix(age_s=1))])
        time.sleep(0.2)
    accepted_after = time.monotonic() - registered_at
    assert accepted_after < MISS_REFRESH_S + 1.5
    print(f"registered vehicle accepted {accepted_after:.2f} s after its registration")


@pytest.mark.slow
def test_the_registry_loaded_before_a_postgres_outage_keeps_judging_telemetry(
    consumers, system_broker, topic_root, redis_client, history_rows, settings, caplog
):
    settings.INGEST_VEHICLE_REGISTRY_REFRESH_S = 0.2  # every batch of the outage reloads
    cluster = start_postgres()
    try:
        cluster.create_database("databus")
        with django_on(cluster, "databus"):
            call_command("migrate", verbosity=0)
            register_vehicles(["bus-1"])
            consumer = consumers.start(system_broker)
            publish(system_broker, [(vehicle_topic(topic_root, "bus-1", POS), fix(age_s=5))])
            wait_for(lambda: history_rows("bus-1"), 10, "the first position stored")

            cluster.stop()
            caplog.set_level(logging.WARNING, logger="databus.db_health")
            time.sleep(0.3)  # the refresh is due: the next batch tries and fails
            during = fix(lon=-77.05, age_s=1)
            publish(
                system_broker,
                [
                    (vehicle_topic(topic_root, "bus-1", POS), during),
                    (vehicle_topic(topic_root, "stranger", POS), fix()),
                ],
            )
            wait_for(
                lambda: (
                    redis_client.hget(keys.vehicle_position("bus-1"), "timestamp")
                    == str(during["timestamp"])
                ),
                10,
                "the registered vehicle's position in hot state during the outage",
            )
            wait_for(lambda: dlq.length(redis_client) == 1, 10, "the stranger refused")
            [letter] = dlq.read(redis_client, count=10)
            assert letter.reason == "unknown_vehicle"
            assert "vehicle registry: database unavailable" in caplog.text

            cluster.start()
            wait_for(
                lambda: answered(lambda: len(history_rows("bus-1")) == 2),
                30,
                "the outage's position stored once PostgreSQL is back",
            )
            consumers.stop(consumer)
    finally:
        cluster.remove()


def test_a_consumer_that_never_loaded_the_registry_holds_its_batch_until_it_can(
    consumers, system_broker, topic_root, redis_client, history_rows
):
    """A worker started while PostgreSQL is down cannot tell a stranger from its fleet:
    it refuses nobody and accepts nobody, and the broker keeps the messages meanwhile."""
    register_vehicles(["bus-1"])
    attempts: list[float] = []

    def load() -> frozenset[str]:
        attempts.append(time.monotonic())
        if len(attempts) == 1:
            raise OperationalError("connection refused")
        return vehicle_ids_get()

    failures = metrics.STORE_FAILURES.labels(store="postgres")
    failures_before = failures._value.get()
    consumers.start(system_broker, vehicles=VehicleRegistry(refresh_s=30.0, load=load))
    publish(
        system_broker,
        [
            (vehicle_topic(topic_root, "bus-1", POS), fix()),
            (vehicle_topic(topic_root, "x", POS), fix()),
        ],
    )
    wait_for(lambda: attempts, 10, "the first load")
    time.sleep(1)
    assert not redis_client.exists(keys.vehicle_position("bus-1")) and dlq.length(redis_client) == 0
    assert failures._value.get() > failures_before  # held, counted, retried

    wait_for(lambda: history_rows("bus-1"), 20, "the held batch written once the ids load")
    assert [letter.reason for letter in dlq.read(redis_client, count=10)] == ["unknown_vehicle"]
    assert len(attempts) == 2
