"""The Streams consumer against the real Redis and PostgreSQL: entries become hot state and
history and are acknowledged; poison is dead-lettered at once and never blocks; an entry
delivered too often is dead-lettered; a replayed entry adds no row."""

from __future__ import annotations

import time

from django.core.management import call_command

from databus import keys
from realtime_engine.ingest import dlq, metrics
from realtime_engine.ingest.streams import claim
from realtime_engine.ingest.streams.record import encode_record, stream_topic
from realtime_engine.ingest.streams.tests.support import (
    GROUP,
    STREAM,
    add_entries,
    fix,
    imei,
    pending,
    register_trackers,
    row_count,
)
from realtime_engine.models import PositionRecord
from tests.support.processes import wait_for


def test_entries_become_hot_state_and_history_once_and_are_acknowledged(streams, redis_client):
    register_trackers(5)
    observed: list[int] = []
    streams.start(observers=(lambda batch, _: observed.append(batch.message_count),))
    add_entries(redis_client, (fix(n, trackers=5) for n in range(50)))

    wait_for(lambda: row_count() == 50, 10, "50 history rows")
    wait_for(lambda: pending(redis_client) == 0, 5, "every entry acknowledged")
    history = [(r.vehicle_id, int(r.timestamp.timestamp())) for r in PositionRecord.objects.all()]
    assert len(set(history)) == 50
    newest = redis_client.hgetall(keys.vehicle_position("bus-3"))
    assert int(newest["timestamp"]) == max(ts for vid, ts in history if vid == "bus-3")
    assert float(newest["speed"]) == 10.0  # 36 km/h
    assert sum(observed) == 50  # the batch observers saw every fix
    assert dlq.length(redis_client) == 0
    assert redis_client.xinfo_groups(STREAM)[0]["lag"] == 0


def test_a_new_group_reads_the_entries_already_waiting(streams, redis_client):
    register_trackers(2)
    add_entries(redis_client, (fix(n, trackers=2) for n in range(10)))  # before any group
    streams.start()
    wait_for(lambda: row_count() == 10, 10, "the entries written before the group existed")


def test_poison_entries_are_dead_lettered_with_their_reason_and_the_stream_keeps_flowing(
    streams, redis_client
):
    register_trackers(1)
    good = fix(0, trackers=1)
    stamp = int(time.time() * 1000) - 1000
    head = f'"device_id": "{imei(0)}", "timestamp": {stamp}'
    poison = {
        "not_json": {"payload": "{not json"},
        "missing_coordinates": {"payload": f"{{{head}}}"},
        "bad_sentinel": {
            "payload": f'{{{head}, "latitude": 1, "longitude": 2,'
            ' "attributes": {"1": {"__bigint": "12x"}}}'
        },
        "unknown_device": encode_record(
            "999999999999999", timestamp_ms=stamp, latitude=1.0, longitude=2.0
        ),
    }
    streams.start()
    ids = add_entries(redis_client, [*poison.values(), good, fix(1, trackers=1)])

    wait_for(lambda: row_count() == 2, 10, "the good entries after the poison stored")
    wait_for(lambda: pending(redis_client) == 0, 5, "poison acknowledged too")
    letters = dlq.read(redis_client, count=10)
    assert [letter.reason for letter in letters] == list(poison)
    assert {letter.topic for letter in letters} == {stream_topic(STREAM)}
    assert letters[0].payload == b"{not json"
    assert "999999999999999" in letters[3].message
    assert len(ids) == 6


def test_an_entry_delivered_too_often_is_dead_lettered_and_its_replays_add_no_row(
    streams, redis_client
):
    register_trackers(1)
    max_deliveries = 3
    redis_client.xgroup_create(STREAM, GROUP, id="0", mkstream=True)
    [entry_id] = add_entries(redis_client, [fix(0, trackers=1)])
    # A consumer that read it and died, then two more that claimed it and died too.
    redis_client.xreadgroup(GROUP, "crashed-1", {STREAM: ">"}, count=1)
    for name in ("crashed-2", "crashed-3"):
        redis_client.xclaim(STREAM, GROUP, name, 0, [entry_id])
    time.sleep(0.3)
    dead_before = metrics.STREAM_DEAD_LETTERED.labels(
        stream=STREAM, reason="max_deliveries"
    )._value.get()

    consumer = streams.start(claim_idle_ms=200, max_deliveries=max_deliveries)
    # The start-up claim pass is its fourth delivery: over the limit, dead-lettered, acked.
    wait_for(lambda: dlq.length(redis_client) == 1, 10, "the max_deliveries dead letter")
    [letter] = dlq.read(redis_client, count=10)
    assert letter.reason == "max_deliveries"
    assert "4 times" in letter.message
    assert pending(redis_client) == 0
    assert row_count() == 0
    assert (
        metrics.STREAM_DEAD_LETTERED.labels(stream=STREAM, reason="max_deliveries")._value.get()
        == dead_before + 1
    )

    # Replayed (the operator judged it harmless): back on its stream, stored once.
    call_command("dlq", "replay", "--all")
    assert dlq.length(redis_client) == 0
    wait_for(lambda: row_count() == 1, 10, "the replayed entry stored")
    # The same entry a second and third time: no second row.
    add_entries(redis_client, [fix(0, trackers=1), fix(0, trackers=1)])
    wait_for(lambda: pending(redis_client) == 0 and redis_client.xlen(STREAM) == 4, 10, "acked")
    time.sleep(0.2)
    assert PositionRecord.objects.filter(vehicle_id="bus-0").count() == 1
    assert consumer.config.max_deliveries == max_deliveries


def test_a_consumer_holding_entries_keeps_them_from_a_claim_pass(streams, redis_client):
    """Touched entries stay with their consumer: XCLAIM JUSTID resets idle, counts nothing."""
    redis_client.xgroup_create(STREAM, GROUP, id="0", mkstream=True)
    [entry_id] = add_entries(redis_client, [fix(0, trackers=1)])
    redis_client.xreadgroup(GROUP, "holder", {STREAM: ">"}, count=1)
    time.sleep(0.3)
    claim.touch(redis_client, GROUP, "holder", {STREAM: [entry_id]})
    pages = claim.claim_pages(redis_client, STREAM, GROUP, "other", min_idle_ms=200, count=10)
    assert list(pages) == []
    [row] = redis_client.xpending_range(STREAM, GROUP, "-", "+", 10)
    assert (row["consumer"], row["times_delivered"]) == ("holder", 1)


def test_a_group_lost_with_redis_is_created_again_and_reading_goes_on(streams, redis_client):
    """Production's Redis restarts empty: the stream and its group are gone with it."""
    register_trackers(2)
    streams.start()
    add_entries(redis_client, (fix(n, trackers=2) for n in range(4)))
    wait_for(lambda: row_count() == 4, 10, "the rows before the loss")
    redis_client.flushdb()
    wait_for(lambda: redis_client.exists(STREAM), 10, "the group created again (MKSTREAM)")
    add_entries(redis_client, (fix(n, trackers=2) for n in range(4, 8)))
    wait_for(lambda: row_count() == 8, 10, "the rows after the loss")
    wait_for(lambda: pending(redis_client) == 0, 5, "acknowledged in the new group")
