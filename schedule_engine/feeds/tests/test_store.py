"""The feed store against the real hot-state Redis: what is saved is what is served."""

from __future__ import annotations

import base64

from databus import keys
from databus.redis import binary_twin
from schedule_engine.feeds.store import (
    FeedName,
    FeedSummary,
    StoredFeed,
    feed_get,
    feed_header_timestamp_get,
    feed_save,
    feed_summaries_get,
    payload_etag,
)


def stored(payload: bytes, header_timestamp: int, name=FeedName.TRIP_UPDATES) -> StoredFeed:
    return StoredFeed(
        summary=FeedSummary(
            name=name,
            header_timestamp=header_timestamp,
            etag=payload_etag(payload),
            entity_count=3,
            built_at=header_timestamp + 0.25,
            build_seconds=0.012,
        ),
        payload=payload,
    )


def test_saved_bytes_come_back_unchanged_through_the_text_client(redis_client):
    # Every byte value, including ones that are not valid UTF-8.
    payload = bytes(range(256)) * 4
    assert feed_save(redis_client, stored(payload, 1_790_000_000))

    feed = feed_get(redis_client, FeedName.TRIP_UPDATES)

    assert feed == stored(payload, 1_790_000_000)
    assert feed_header_timestamp_get(redis_client, FeedName.TRIP_UPDATES) == 1_790_000_000


def test_a_feed_never_built_reads_as_none(redis_client):
    assert feed_get(redis_client, FeedName.VEHICLE_POSITIONS) is None
    assert feed_header_timestamp_get(redis_client, FeedName.VEHICLE_POSITIONS) is None
    assert feed_summaries_get(redis_client) == {name: None for name in FeedName}


def test_an_older_feed_never_replaces_a_newer_one(redis_client):
    assert feed_save(redis_client, stored(b"new", 1_790_000_100))

    assert not feed_save(redis_client, stored(b"old", 1_790_000_000))
    assert feed_get(redis_client, FeedName.TRIP_UPDATES).payload == b"new"

    # The same second is not older: a rebuild within one second replaces the feed.
    assert feed_save(redis_client, stored(b"same second", 1_790_000_100))
    assert feed_get(redis_client, FeedName.TRIP_UPDATES).payload == b"same second"


def test_summaries_leave_the_payload_in_redis(redis_client):
    feed_save(redis_client, stored(b"x" * 1000, 1_790_000_000, FeedName.VEHICLE_POSITIONS))

    summaries = feed_summaries_get(redis_client)

    assert (
        summaries[FeedName.VEHICLE_POSITIONS]
        == stored(b"x" * 1000, 1_790_000_000, FeedName.VEHICLE_POSITIONS).summary
    )
    assert summaries[FeedName.TRIP_UPDATES] is None


def test_the_payload_is_stored_as_bytes(redis_client):
    payload = bytes(range(256)) * 4  # not UTF-8: the text client would mangle it
    feed_save(redis_client, stored(payload, 1_790_000_000))

    raw = binary_twin(redis_client).hget(keys.feed(FeedName.TRIP_UPDATES), "protobuf")
    assert raw == payload
    assert feed_get(redis_client, FeedName.TRIP_UPDATES).payload == payload


def test_a_feed_an_earlier_version_stored_in_base64_reads_until_the_next_build(redis_client):
    key = keys.feed(FeedName.TRIP_UPDATES)
    feed_save(redis_client, stored(b"new", 1_790_000_000))
    client = binary_twin(redis_client)
    client.hdel(key, "protobuf")
    client.hset(key, "payload", base64.b64encode(b"\x00legacy\xff"))

    assert feed_get(redis_client, FeedName.TRIP_UPDATES).payload == b"\x00legacy\xff"

    feed_save(redis_client, stored(b"rebuilt", 1_790_000_010))
    assert not client.hexists(key, "payload")
    assert feed_get(redis_client, FeedName.TRIP_UPDATES).payload == b"rebuilt"


def test_a_corrupted_legacy_payload_reads_as_not_built(redis_client):
    feed_save(redis_client, stored(b"fine", 1_790_000_000))
    binary_twin(redis_client).hdel(keys.feed(FeedName.TRIP_UPDATES), "protobuf")
    redis_client.hset(keys.feed(FeedName.TRIP_UPDATES), "payload", "not base64 at all!")

    assert feed_get(redis_client, FeedName.TRIP_UPDATES) is None


def test_equal_payloads_have_equal_etags_and_different_ones_differ():
    assert payload_etag(b"abc") == payload_etag(b"abc")
    assert payload_etag(b"abc") != payload_etag(b"abd")
    assert payload_etag(b"abc").startswith('"') and payload_etag(b"abc").endswith('"')
