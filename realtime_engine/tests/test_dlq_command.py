"""`manage.py dlq`: an operator lists, inspects, replays after a fix, and purges dead letters."""

from __future__ import annotations

import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from databus import keys
from realtime_engine.ingest import dlq
from realtime_engine.ingest.decode import Rejection
from realtime_engine.ingest.topics import TelemetryLeaf, vehicle_topic
from realtime_engine.tests.mqtt_support import publish
from runs.domain.telemetry.rejection import RejectReason
from tests.support.processes import wait_for


def run(*args: str) -> str:
    out = StringIO()
    call_command("dlq", *args, stdout=out)
    return out.getvalue()


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
