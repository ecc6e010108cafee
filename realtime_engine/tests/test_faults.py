"""Fault tests: PostgreSQL unreachable for a while; two consumers sharing one subscription."""

from __future__ import annotations

import time
from collections import Counter

import pytest
from django.db import connection

from databus import keys
from realtime_engine.ingest import metrics
from realtime_engine.ingest.history import DatabaseTarget, HistoryWriter
from realtime_engine.ingest.topics import TelemetryLeaf, vehicle_topic
from realtime_engine.tests.mqtt_support import publish
from realtime_engine.tests.tcp_proxy import TcpProxy
from tests.support.processes import start_mosquitto, wait_for
from tests.support.vehicles import register_vehicles


@pytest.fixture
def database_proxy(transactional_db):
    params = connection.settings_dict
    proxy = TcpProxy(params["HOST"] or "127.0.0.1", int(params["PORT"] or 5432))
    yield proxy
    proxy.close()


@pytest.fixture
def proxied_history(database_proxy):
    """Make history writers whose PostgreSQL connection runs through ``database_proxy``."""
    target = DatabaseTarget.from_django()
    proxied = DatabaseTarget(
        target.host, database_proxy.port, target.dbname, target.user, target.password
    )
    return lambda: HistoryWriter(proxied, connect_timeout=1)


def positions(root: str, count: int, *, vehicles: int = 10, prefix: str = "v"):
    """``count`` positions from a fleet of ``vehicles``, registered here: ingest trusts
    registered vehicles only. Call it before the consumer's first batch, or at least a
    second after its last one: a registry reloads at most once a second on a miss."""
    register_vehicles(f"{prefix}{i}" for i in range(vehicles))
    base = int(time.time()) - 600
    return [
        (
            vehicle_topic(root, f"{prefix}{i % vehicles}", TelemetryLeaf.POSITION),
            {"latitude": 1.0, "longitude": 2.0, "timestamp": base + i // vehicles},
        )
        for i in range(count)
    ]


def test_postgres_unreachable_holds_acks_keeps_hot_state_and_loses_nothing(
    private_broker,
    consumers,
    topic_root,
    redis_client,
    history_rows,
    database_proxy,
    proxied_history,
):
    failures = metrics.STORE_FAILURES.labels(store="postgres")
    before = failures._value.get()
    consumer = consumers.start(
        private_broker,
        client_id="ingest-pg-down",
        history=proxied_history(),
    )

    database_proxy.cut()
    publish(private_broker, positions(topic_root, 100))
    wait_for(
        lambda: len(redis_client.keys("vehicle:*:position")) == 10,
        10,
        "hot state written while PostgreSQL is down",
    )
    wait_for(lambda: failures._value.get() >= before + 2, 10, "retries")
    assert history_rows() == []

    # A restart while the database is still down: nothing was acknowledged, so the
    # broker redelivers everything to the persistent session.
    consumers.stop(consumer)
    consumer = consumers.start(
        private_broker,
        client_id="ingest-pg-down",
        history=proxied_history(),
    )
    time.sleep(0.5)
    assert history_rows() == []

    database_proxy.restore()
    wait_for(lambda: len(history_rows()) == 100, 40, "every row once PostgreSQL is back")
    assert Counter(vid for vid, _ in history_rows()) == {f"v{i}": 10 for i in range(10)}
    assert redis_client.xlen(keys.TELEMETRY_DLQ) == 0


def test_two_consumers_in_one_shared_group_split_a_burst_without_doubles(
    private_broker, consumers, topic_root, redis_client, history_rows
):
    counts = {"a": 0, "b": 0}

    def counter(name):
        def observe(batch, client):
            counts[name] += batch.message_count

        return observe

    for name in counts:
        consumers.start(
            private_broker,
            client_id=f"ingest-share-{name}",
            shared_group="ingest",
            observers=(counter(name),),
        )
    total = 2000
    publish(private_broker, positions(topic_root, total, vehicles=2000, prefix="s"))
    wait_for(lambda: counts["a"] + counts["b"] >= total, 30, "the burst processed")
    time.sleep(0.5)
    assert counts["a"] + counts["b"] == total
    assert counts["a"] > 0 and counts["b"] > 0
    assert len(history_rows()) == total


def test_a_broker_restart_is_survived_by_reconnecting_and_resubscribing(
    tmp_path, consumers, topic_root, redis_client, history_rows
):
    broker, port = start_mosquitto(tmp_path / "broker")
    url = f"mqtt://127.0.0.1:{port}"
    reconnects = metrics.RECONNECTS._value.get()
    before, after = (positions(topic_root, 10, prefix=prefix) for prefix in ("before", "after"))
    try:
        consumer = consumers.start(url, client_id="ingest-broker-restart")
        publish(url, before)
        wait_for(lambda: len(history_rows()) == 10, 10, "rows before the restart")

        broker.stop()
        wait_for(lambda: not consumer.ready.is_set(), 10, "the consumer to notice")
        broker, _ = start_mosquitto(tmp_path / "broker", port=port)
        wait_for(consumer.ready.is_set, 30, "reconnected and subscribed")

        publish(url, after)
        wait_for(lambda: len(history_rows()) == 20, 10, "rows after the restart")
        assert metrics.RECONNECTS._value.get() > reconnects
    finally:
        consumers.stop_all()
        broker.stop()


def test_hot_state_keeps_being_written_through_a_postgres_outage_up_to_the_ack_window(
    private_broker,
    consumers,
    topic_root,
    redis_client,
    history_rows,
    database_proxy,
    proxied_history,
):
    received = []
    window, batch_max, vehicles = 1000, 50, 10
    consumer = consumers.start(
        private_broker,
        client_id="ingest-pg-window",
        history=proxied_history(),
        observers=(lambda batch, client: received.append(batch.message_count),),
        batch_max=batch_max,
        receive_maximum=window,
    )
    assert consumer.config.receive_window == window  # 10 batches, not 2

    database_proxy.cut()
    messages = positions(topic_root, 1500, vehicles=vehicles)
    publish(private_broker, messages)
    # Hot state follows the first `window` messages although none is acknowledged ...
    newest = messages[window - 1][1]["timestamp"]
    wait_for(
        lambda: all(
            int(redis_client.hget(keys.vehicle_position(f"v{i}"), "timestamp") or 0) >= newest
            for i in range(vehicles)
        ),
        10,
        "hot state written up to the ack window while PostgreSQL is down",
    )
    # ... and there it stops: the broker holds the rest until the acks come.
    time.sleep(1)
    assert sum(received) == window
    assert history_rows() == []

    database_proxy.restore()
    wait_for(lambda: len(history_rows()) == len(messages), 40, "every row once PostgreSQL is back")
    assert sum(received) == len(messages)


def test_a_stop_during_a_postgres_outage_ends_within_the_drain_budget_and_loses_nothing(
    private_broker,
    consumers,
    topic_root,
    redis_client,
    history_rows,
    database_proxy,
    proxied_history,
):
    drain_s = 1.5

    def start():
        return consumers.start(
            private_broker,
            client_id="ingest-pg-drain",
            history=proxied_history(),
            drain_s=drain_s,
        )

    consumer = start()
    database_proxy.cut()
    messages = positions(topic_root, 200)
    publish(private_broker, messages)
    wait_for(lambda: len(redis_client.keys("vehicle:*:position")) == 10, 10, "hot state")
    stopped_at = time.monotonic()
    consumers.stop(consumer)
    # The drain budget, the history thread's last half second, the DISCONNECT.
    assert time.monotonic() - stopped_at < drain_s + 1.5

    database_proxy.restore()
    start()  # the same session: the broker redelivers what was never acknowledged
    wait_for(lambda: len(history_rows()) == len(messages), 20, "every row")
