"""Broker sessions that match the deployment: stable ids per replica slot, no leftover
subscriptions after a resumed session, and sessions that survive a broker crash."""

from __future__ import annotations

import io
import signal
import time

import pytest
from django.core.management import call_command

from databus import env
from realtime_engine.ingest.service import consumer_config, ingest_client_id
from realtime_engine.ingest.topics import stale_filters, subscription_filters
from realtime_engine.tests.mqtt_support import publish
from realtime_engine.tests.test_faults import positions
from realtime_engine.tests.test_worker import ingest_env, wait_subscribed
from tests.support.processes import start_mosquitto, wait_for


def test_client_id_is_explicit_then_per_replica_slot_then_per_host():
    def client_id(explicit="", slot=""):
        return ingest_client_id(
            explicit=explicit, replica_slot=slot, topic_root="transit", hostname="realtime@abc123"
        )

    assert client_id(explicit="agency-1", slot="2") == "agency-1"
    assert client_id(slot="2") == "databus-transit-ingest-2"
    assert client_id() == "databus-ingest-realtime@abc123"


def test_the_replica_slot_setting_names_the_session_whatever_the_host(settings):
    settings.INGEST_REPLICA_SLOT = "1"
    settings.MQTT_TOPIC_ROOT = "transit"
    assert consumer_config(hostname="realtime@old").client_id == "databus-transit-ingest-1"
    assert consumer_config(hostname="realtime@new").client_id == "databus-transit-ingest-1"


@pytest.mark.parametrize(
    ("remembered", "group", "stale"),
    [
        # Switched to a shared group: the direct form goes even if nothing is remembered.
        (set(), "ingest", ["r/vehicle/+/+"]),
        ({"r/vehicle/+/+"}, "ingest", ["r/vehicle/+/+"]),
        # Back to direct, or to another group: only memory can name the old group.
        ({"$share/ingest/r/vehicle/+/+"}, "", ["$share/ingest/r/vehicle/+/+"]),
        ({"$share/a/r/vehicle/+/+"}, "b", ["$share/a/r/vehicle/+/+", "r/vehicle/+/+"]),
        ({"r/vehicle/+/+"}, "", []),
    ],
)
def test_stale_filters_are_the_other_forms_this_session_may_hold(remembered, group, stale):
    assert stale_filters(subscription_filters("r", group), remembered, "r") == stale


@pytest.mark.parametrize(("before", "after"), [("", "ingest"), ("ingest", ""), ("a", "b")])
def test_a_resumed_session_switched_to_another_subscription_gets_each_message_once(
    private_broker, consumers, topic_root, redis_client, before, after
):
    received = []

    def count(batch, client):
        received.append(batch.message_count)

    first = consumers.start(private_broker, client_id="ingest-switch", shared_group=before)
    consumers.stop(first)
    consumers.start(
        private_broker, client_id="ingest-switch", shared_group=after, observers=(count,)
    )
    total = 300
    publish(private_broker, positions(topic_root, total, vehicles=total))
    wait_for(lambda: sum(received) >= total, 10, "the messages")
    time.sleep(0.5)  # a second subscription would deliver its copies meanwhile
    assert sum(received) == total


@pytest.mark.slow
def test_a_worker_replaced_under_a_new_host_name_takes_over_its_slot_and_strands_nothing(
    process_env, celery_worker_factory, private_broker, topic_root, redis_client, history_rows
):
    env = ingest_env(process_env, private_broker, MQTT_SHARED_GROUP="databus")
    slot_1 = celery_worker_factory({**env, "INGEST_REPLICA_SLOT": "1"}, name="realtime-a")
    slot_2 = celery_worker_factory({**env, "INGEST_REPLICA_SLOT": "2"}, name="realtime-b")
    before = positions(topic_root, 1000, vehicles=1000, prefix="before")
    down = positions(topic_root, 1000, vehicles=1000, prefix="down")
    after = positions(topic_root, 1000, vehicles=1000, prefix="after")
    wait_subscribed(slot_1)
    wait_subscribed(slot_2)
    publish(private_broker, before)
    wait_for(lambda: len(history_rows()) >= len(before), 30, "rows before the replacement")

    slot_1.stop()
    assert slot_1.process.returncode == 0, slot_1.log()
    # While slot 1 is gone the broker keeps its share in slot 1's session.
    publish(private_broker, down)
    replacement = celery_worker_factory({**env, "INGEST_REPLICA_SLOT": "1"}, name="realtime-c")
    wait_subscribed(replacement)
    publish(private_broker, after)

    expected = len(before) + len(down) + len(after)
    try:
        wait_for(lambda: len(history_rows()) >= expected, 30, "every message stored")
    except TimeoutError:
        print(replacement.log())
        raise
    stored = {vehicle for vehicle, _ in history_rows()}
    published = {topic.split("/")[2] for topic, _ in before + down + after}
    assert stored == published
    assert "session present: True" in replacement.log()


def test_a_session_and_its_queue_survive_a_broker_crash_older_than_the_save_window(
    tmp_path, consumers, topic_root, redis_client, history_rows
):
    broker, port = start_mosquitto(tmp_path / "broker")
    url = f"mqtt://127.0.0.1:{port}"
    try:
        consumers.stop(consumers.start(url, client_id="ingest-crash"))
        queued = positions(topic_root, 2000, vehicles=2000, prefix="q")
        publish(url, queued)  # acknowledged by the broker, queued for the offline session
        time.sleep(2.5)  # the shipped autosave window (docs/operations.md)
        broker.stop(signal.SIGKILL)
        broker, _ = start_mosquitto(tmp_path / "broker", port=port)
        consumers.start(url, client_id="ingest-crash")
        wait_for(lambda: len(history_rows()) >= len(queued), 20, "the queue redelivered")
        assert len(history_rows()) == len(queued)
    finally:
        consumers.stop_all()
        broker.stop()


def test_retiring_a_scaled_away_slot_ingests_its_share_and_ends_its_session(
    private_broker, consumers, topic_root, redis_client, history_rows, settings
):
    settings.MQTT_ADDRESS = env.parse_mqtt_url(private_broker)
    settings.MQTT_SHARED_GROUP = "databus"
    slot_id = {
        slot: ingest_client_id(explicit="", replica_slot=slot, topic_root=topic_root, hostname="")
        for slot in ("1", "2")
    }
    kept_count = []
    consumers.start(
        private_broker,
        client_id=slot_id["1"],
        shared_group="databus",
        observers=(lambda batch, client: kept_count.append(batch.message_count),),
    )
    consumers.stop(consumers.start(private_broker, client_id=slot_id["2"], shared_group="databus"))

    # Slot 2 is scaled away: the broker still gives its offline session a share.
    scaled_down = positions(topic_root, 1000, vehicles=1000, prefix="down")
    after = positions(topic_root, 500, vehicles=500, prefix="after")
    publish(private_broker, scaled_down)
    wait_for(lambda: sum(kept_count) > 0, 10, "slot 1's share")
    time.sleep(0.5)
    assert 0 < sum(kept_count) < len(scaled_down)

    out = io.StringIO()
    call_command("ingest_session", "retire", "--slot", "2", stdout=out)
    assert f"session {slot_id['2']} retired" in out.getvalue()
    wait_for(lambda: len(history_rows()) >= len(scaled_down), 10, "the stranded share stored")

    # From now on slot 1 gets everything.
    kept_count.clear()
    publish(private_broker, after)
    wait_for(lambda: sum(kept_count) >= len(after), 10, "every message at slot 1")
    # The observers count a batch before its history thread has stored it.
    total = len(scaled_down) + len(after)
    wait_for(lambda: len(history_rows()) >= total, 10, "every message stored")
    assert len(history_rows()) == total
