"""`manage.py dlq`: an operator lists, inspects, replays after a fix, and purges dead letters;
a truncated letter is shown, never replayed."""

from __future__ import annotations

import hashlib
import json
import time
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from databus import keys
from realtime_engine.ingest import dlq
from realtime_engine.ingest.decode import Rejection
from realtime_engine.ingest.topics import TelemetryLeaf, vehicle_topic
from realtime_engine.ingest.vehicle_registry import MISS_REFRESH_S
from realtime_engine.tests.mqtt_support import publish
from runs.domain.telemetry.rejection import RejectReason
from tests.support.processes import wait_for
from tests.support.vehicles import register_vehicles


def run(*args: str, stderr: StringIO | None = None) -> str:
    out = StringIO()
    call_command("dlq", *args, stdout=out, stderr=stderr or StringIO())
    return out.getvalue()


def add_letter(client, topic: str, payload: bytes, reason: RejectReason) -> str:
    rejection = Rejection(topic, payload, reason, "refused", 1_771_250_000.0)
    return client.xadd(keys.TELEMETRY_DLQ, dlq.entry_fields(rejection))


def test_list_show_and_purge(consumers, system_broker, topic_root, redis_client):
    consumers.start(system_broker)
    topic = vehicle_topic(topic_root, "v1", TelemetryLeaf.POSITION)
    publish(system_broker, [(topic, b"garbage"), (topic, json.dumps({"latitude": 1}).encode())])
    wait_for(lambda: dlq.length(redis_client) == 2, 10, "two dead letters")

    listing = run("list")
    assert "not_json" in listing and "missing_coordinates" in listing and topic in listing
    assert "2 shown, 2 in total" in listing
    assert "not_json" not in run("list", "--reason", "missing_coordinates")

    first = dlq.read(redis_client, count=1)[0]
    shown = run("show", first.entry_id)
    assert "b'garbage'" in shown and "not_json" in shown
    with pytest.raises(CommandError):
        run("show", "1-1")

    assert "purged 1" in run("purge", first.entry_id)
    assert "purged 1" in run("purge", "--all")
    assert dlq.length(redis_client) == 0
    with pytest.raises(CommandError):
        run("purge")


def test_replay_reinjects_through_the_broker_and_removes_the_letter(
    consumers, system_broker, topic_root, redis_client, history_rows
):
    register_vehicles(["bus-5", "bus-6"])
    consumers.start(system_broker)
    # A valid position that an earlier, buggy consumer had refused.
    topic = vehicle_topic(topic_root, "bus-5", TelemetryLeaf.POSITION)
    payload = json.dumps({"latitude": 38.9, "longitude": -77.0}).encode()
    redis_client.xadd(
        keys.TELEMETRY_DLQ,
        dlq.entry_fields(
            Rejection(topic, payload, RejectReason.INVALID_VALUE, "old bug", 1_771_250_000.0)
        ),
    )
    still_bad = vehicle_topic(topic_root, "bus-6", TelemetryLeaf.POSITION)
    redis_client.xadd(
        keys.TELEMETRY_DLQ,
        dlq.entry_fields(
            Rejection(still_bad, b"\xff", RejectReason.NOT_JSON, "binary", 1_771_250_000.0)
        ),
    )

    assert "replayed 1" in run("replay", "--reason", "invalid_value")
    wait_for(lambda: history_rows("bus-5"), 10, "the replayed position")
    assert redis_client.exists(keys.vehicle_position("bus-5"))
    assert [letter.reason for letter in dlq.read(redis_client, count=10)] == ["not_json"]

    # Replaying a still-invalid payload sends it back to the DLQ, nothing is lost.
    assert "replayed 1" in run("replay", "--all")
    wait_for(lambda: dlq.length(redis_client) == 1, 10, "the letter back in the DLQ")
    [again] = dlq.read(redis_client, count=10)
    assert (again.topic, again.payload, again.reason) == (still_bad, b"\xff", "not_json")


def test_an_unknown_vehicle_replayed_after_its_registration_is_ingested(
    consumers, system_broker, topic_root, redis_client, history_rows
):
    consumers.start(system_broker)
    topic = vehicle_topic(topic_root, "bus-new", TelemetryLeaf.POSITION)
    publish(system_broker, [(topic, json.dumps({"latitude": 38.9, "longitude": -77.0}).encode())])
    wait_for(lambda: dlq.length(redis_client) == 1, 10, "the unregistered vehicle refused")
    assert "unknown_vehicle" in run("list")

    register_vehicles(["bus-new"])
    # The refusal reloaded the registry just now; the next reload a miss may cause is at most
    # MISS_REFRESH_S away (a replay sooner lands back in the DLQ: nothing is lost).
    time.sleep(MISS_REFRESH_S)
    assert "replayed 1" in run("replay", "--reason", "unknown_vehicle")
    wait_for(lambda: history_rows("bus-new"), 10, "the replayed position, now trusted")
    assert dlq.length(redis_client) == 0


def test_a_truncated_letter_is_shown_with_its_length_and_digest_and_never_replayed(redis_client):
    payload = b"{" + b"x" * 10_000
    topic = "transit/vehicle/bus-1/position"
    cut = add_letter(redis_client, topic, payload, RejectReason.PAYLOAD_TOO_LARGE)
    whole = add_letter(redis_client, topic, b"garbage", RejectReason.NOT_JSON)

    assert "[truncated, 10001 bytes]" in run("list")
    shown = run("show", cut)
    assert "length:      10001 bytes" in shown
    assert f"sha256:      {hashlib.sha256(payload).hexdigest()}" in shown
    assert "truncated:   yes, the first 4096 bytes are kept" in shown
    assert "truncated:   no" in run("show", whole)

    with pytest.raises(CommandError, match=f"cannot replay {cut}: truncated"):
        run("replay", cut)
    assert dlq.length(redis_client) == 2, "nothing replayed, nothing removed"
    # Selected in bulk it is skipped and said so; the whole letter is replayed.
    errors = StringIO()
    assert "replayed 1" in run("replay", "--all", stderr=errors)
    assert "skipped 1 truncated dead letter(s)" in errors.getvalue()
    assert [letter.entry_id for letter in dlq.read(redis_client, count=10)] == [cut]


def test_a_letter_the_broker_refuses_stays_in_the_dlq(tmp_path, redis_client, settings):
    """A replaying account the broker's ACL does not let publish (a "not authorized" PUBACK,
    or a dropped connection) must not cost the letter: the replay stops and says so."""
    from databus.env import parse_mqtt_url
    from tests.support.processes import start_mosquitto

    acl = tmp_path / "acl"
    acl.write_text("# nothing for anonymous clients: every publish is refused\n")
    broker, port = start_mosquitto(tmp_path / "broker", extra_conf=f"acl_file {acl}")
    try:
        settings.MQTT_URL = f"mqtt://127.0.0.1:{port}"
        settings.MQTT_ADDRESS = parse_mqtt_url(settings.MQTT_URL)
        topic = vehicle_topic("refused", "bus-7", TelemetryLeaf.POSITION)
        entry_id = add_letter(redis_client, topic, b'{"latitude": 1}', RejectReason.INVALID_VALUE)

        with pytest.raises(CommandError, match=f"letter {entry_id} not replayed"):
            run("replay", entry_id)
        assert [letter.entry_id for letter in dlq.read(redis_client, count=10)] == [entry_id]
    finally:
        broker.stop()
