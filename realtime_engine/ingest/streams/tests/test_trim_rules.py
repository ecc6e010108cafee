"""Which trims lose data, which consumers may be removed, how entry ids order. Pure."""

from __future__ import annotations

import pytest

from realtime_engine.ingest.streams.claim import over_delivered
from realtime_engine.ingest.streams.entries import Entry, entries_of_read, parse_id
from realtime_engine.ingest.streams.group import ConsumerState, idle_consumers
from realtime_engine.ingest.streams.trim import GroupFloor, trim_refusal


def test_a_cut_past_unacknowledged_or_unread_entries_is_refused_and_one_before_them_is_not():
    floors = [GroupFloor("databus", oldest_pending="100-5", first_undelivered="200-0")]
    assert trim_refusal("100-5", floors) is None  # keeps 100-5 itself
    assert "unacknowledged entries from 100-5" in trim_refusal("100-6", floors)
    refusal = trim_refusal("300-0", floors)
    assert "unacknowledged" in refusal and "not read the entries from 200-0" in refusal
    # Read and acknowledged up to the end: any cut is safe.
    assert trim_refusal("999-0", [GroupFloor("databus", None, None)]) is None
    # Ids compare as numbers, not text.
    assert trim_refusal("99-0", [GroupFloor("g", "100-0", None)]) is None


def test_a_consumer_holding_entries_is_never_listed_for_removal():
    consumers = [
        ConsumerState("dead-and-empty", pending=0, idle_ms=120_000),
        ConsumerState("dead-holding", pending=3, idle_ms=120_000),
        ConsumerState("alive", pending=0, idle_ms=10),
    ]
    assert idle_consumers(consumers, idle_ms=60_000) == ["dead-and-empty"]


def test_an_entry_is_over_delivered_only_beyond_the_limit():
    assert not over_delivered(Entry("s", "1-0", {}, deliveries=5), 5)
    assert over_delivered(Entry("s", "1-0", {}, deliveries=6), 5)


def test_ids_and_read_replies():
    assert parse_id("1700000000000-12") == (1700000000000, 12)
    assert parse_id("1700000000000") == (1700000000000, 0)
    with pytest.raises(ValueError):
        parse_id("yesterday")
    reply = [["a", [("1-0", {"payload": "x"}), ("2-0", None)]], ["b", []]]
    assert entries_of_read(reply) == [Entry("a", "1-0", {"payload": "x"}), Entry("a", "2-0", {})]
    assert entries_of_read(None) == []
