"""The consumer inside real `celery worker` processes: end to end, metrics, SIGKILL mid-burst."""

from __future__ import annotations

import subprocess
import threading
import time
import urllib.request

import pytest

from databus import keys
from realtime_engine.ingest.topics import TelemetryLeaf, vehicle_topic
from realtime_engine.models import PositionRecord
from realtime_engine.tests.mqtt_support import publish
from tests.support.processes import free_port, wait_for
from tests.support.vehicles import register_vehicles

SUBSCRIBED = "MQTT ingest subscribed"


def ingest_env(process_env: dict[str, str], broker_url: str, **extra: str) -> dict[str, str]:
    return {**process_env, "MQTT_URL": broker_url, "MQTT_CONSUMER_ENABLED": "true", **extra}


def wait_subscribed(worker, count: int = 1, timeout: float = 60) -> None:
    try:
        wait_for(lambda: worker.log().count(SUBSCRIBED) >= count, timeout, "worker subscribed")
    except TimeoutError:
        print(worker.log())
        raise


def burst(topic_root: str, total: int, vehicles: int) -> list[tuple[str, dict]]:
    """``total`` positions, one second apart per vehicle, round-robin over ``vehicles``
    (registered here: ingest trusts registered vehicles only)."""
    register_vehicles(f"v{i}" for i in range(vehicles))
    base = int(time.time()) - 3600
    return [
        (
            vehicle_topic(topic_root, f"v{i % vehicles}", TelemetryLeaf.POSITION),
            {"latitude": 10.0, "longitude": 20.0, "timestamp": base + i // vehicles},
        )
        for i in range(total)
    ]


def assert_every_message_stored_once(messages: list[tuple[str, dict]], worker) -> None:
    """Wait for one history row per message (as a worker writes them), then compare."""
    try:
        wait_for(
            lambda: PositionRecord.objects.count() >= len(messages), 120, "all messages written"
        )
    except TimeoutError:
        print(worker.log())
        raise
    time.sleep(0.5)
    rows = {
        (vid, int(ts.timestamp()))
        for vid, ts in PositionRecord.objects.values_list("vehicle_id", "timestamp")
    }
    assert PositionRecord.objects.count() == len(messages)
    assert rows == {(topic.split("/")[2], payload["timestamp"]) for topic, payload in messages}


@pytest.mark.slow
def test_worker_ingests_position_and_occupancy_and_exports_metrics(
    process_env, celery_worker_factory, private_broker, topic_root, redis_client, history_rows
):
    port = free_port()
    register_vehicles(["bus-1"])
    worker = celery_worker_factory(
        ingest_env(process_env, private_broker, WORKER_METRICS_PORT=str(port))
    )
    wait_subscribed(worker)
    redis_client.set(keys.vehicle_current_run("bus-1"), "run-1")
    ts = int(time.time()) - 3
    publish(
        private_broker,
        [
            (
                vehicle_topic(topic_root, "bus-1", TelemetryLeaf.POSITION),
                {"latitude": 38.9, "longitude": -77.0, "speed": 3, "timestamp": ts},
            ),
            (
                vehicle_topic(topic_root, "bus-1", TelemetryLeaf.OCCUPANCY),
                {"occupancy_percentage": 90, "timestamp": ts},
            ),
            (vehicle_topic(topic_root, "bus-1", TelemetryLeaf.POSITION), b"not json"),
            (
                vehicle_topic(topic_root, "stranger", TelemetryLeaf.POSITION),
                {"latitude": 38.9, "longitude": -77.0, "timestamp": ts},
            ),
        ],
    )
    wait_for(
        lambda: (
            redis_client.exists(keys.vehicle_occupancy("bus-1"))
            and redis_client.xlen(keys.TELEMETRY_DLQ) == 2
        ),
        20,
        "hot state",
    )
    wait_for(lambda: history_rows("bus-1"), 10, "history")
    assert redis_client.hget(keys.vehicle_position("bus-1"), "speed") == "3.0"
    assert redis_client.hget(keys.vehicle_occupancy("bus-1"), "occupancy_status") == "FULL"
    assert redis_client.zscore(keys.RUNS_LAST_SEEN, "run-1") == ts
    assert history_rows() == [("bus-1", ts)]

    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    assert 'databus_ingest_messages_accepted_total{entity="position"} 1.0' in text
    assert 'databus_ingest_messages_rejected_total{entity="position",reason="not_json"} 1.0' in text
    rejected_unknown = 'rejected_total{entity="position",reason="unknown_vehicle"} 1.0'
    assert f"databus_ingest_messages_{rejected_unknown}" in text
    assert "databus_ingest_registered_vehicles 1.0" in text
    assert "databus_ingest_dlq_length 2.0" in text
    assert not redis_client.exists(keys.vehicle_position("stranger"))

    worker.stop()
    assert worker.process.returncode == 0, worker.log()
    # A clean stop is silent: no lost-connection warning, no error from the step.
    assert "MQTT ingest disconnected" not in worker.log()


@pytest.mark.slow
def test_sigkill_mid_burst_then_restart_writes_every_message_exactly_once(
    process_env, celery_worker_factory, private_broker, topic_root, redis_client
):
    total, vehicles = 20_000, 200
    messages = burst(topic_root, total, vehicles)
    env = ingest_env(process_env, private_broker)
    worker = celery_worker_factory(env, name="ingest-kill")
    wait_subscribed(worker)
    publisher = threading.Thread(target=publish, args=(private_broker, messages))
    publisher.start()
    wait_for(lambda: PositionRecord.objects.count() >= 1500, 60, "the burst to be under way")
    worker.kill()
    written_at_kill = PositionRecord.objects.count()
    publisher.join(120)
    assert written_at_kill < total

    assert "MQTT ingest" in worker.log()
    restarted = celery_worker_factory(env, name="ingest-kill")
    assert_every_message_stored_once(messages, restarted)
    assert "session present: True" in restarted.log()


@pytest.mark.slow
def test_sigterm_under_load_drains_within_the_budget_and_loses_nothing(
    process_env, celery_worker_factory, private_broker, topic_root, redis_client
):
    total, vehicles, drain_s = 20_000, 200, 3
    messages = burst(topic_root, total, vehicles)
    env = ingest_env(process_env, private_broker, INGEST_REPLICA_SLOT="1", INGEST_DRAIN_S="3")
    worker = celery_worker_factory(env, name="ingest-term-a")
    wait_subscribed(worker)
    publisher = threading.Thread(target=publish, args=(private_broker, messages))
    publisher.start()
    wait_for(lambda: PositionRecord.objects.count() >= 1500, 60, "the burst to be under way")
    stopped_at = time.monotonic()
    worker.stop(timeout=30)
    took = time.monotonic() - stopped_at
    publisher.join(120)
    assert worker.process.returncode == 0, worker.log()
    # The drain budget, plus Celery's own warm shutdown of a solo pool.
    assert took < drain_s + 2, worker.log()
    assert "MQTT ingest disconnected" not in worker.log()

    # Its replacement (another host name, the same slot) finds the rest in the session.
    replacement = celery_worker_factory(env, name="ingest-term-b")
    assert_every_message_stored_once(messages, replacement)


@pytest.mark.slow
def test_a_worker_whose_ingest_thread_dies_exits_non_zero_and_says_why(
    process_env, celery_worker_factory, private_broker
):
    # A topic root that is not a plain prefix makes the consumer raise once connected.
    env = ingest_env(process_env, private_broker, MQTT_TOPIC_ROOT="not+a/root")
    worker = celery_worker_factory(env)
    try:
        worker.process.wait(timeout=60)
    except subprocess.TimeoutExpired:
        print(worker.log())
        raise
    assert worker.process.returncode != 0
    log = worker.log()
    assert "MQTT ingest thread died" in log
    assert "must be a plain topic prefix" in log
