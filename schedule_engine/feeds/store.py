"""The published GTFS-RT feeds in Redis: one hash ``feed:{name}`` per feed.

Written by the feed build task (``schedule_engine.feeds.tasks``); read by the feed
endpoints (``views``), the metrics collector and the readiness probe (``metrics``).
No database access: serving a feed is one Redis round trip.

Storage choice: the protobuf bytes are stored as they are, in the ``protobuf`` field,
through a binary client (``databus.redis.binary_twin``); the hot state's text client
would need them in base64, which cost a request for a 50,000-run TripUpdates 0.23 s of
decoding. A hash stored by an earlier version holds them base64-encoded in ``payload``
instead: read as such until the next build replaces it. Each hash holds everything a
response needs (payload, header timestamp, ETag) so one ``HGETALL`` is always consistent.
A write never replaces a feed with an older header timestamp (a Lua
compare-and-set), so two overlapping builds cannot make the timestamp go back.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

import redis

from databus import keys
from databus.redis import binary_twin

PROTOBUF = "protobuf"  # the serialised FeedMessage, bytes
LEGACY_PAYLOAD = "payload"  # the same, base64 text, as earlier versions stored it
HEADER_TIMESTAMP = "header_timestamp"
ETAG = "etag"
ENTITY_COUNT = "entity_count"
BUILT_AT = "built_at"
BUILD_SECONDS = "build_seconds"
SUMMARY_FIELDS = (HEADER_TIMESTAMP, ETAG, ENTITY_COUNT, BUILT_AT, BUILD_SECONDS)


class FeedName(StrEnum):
    """The feeds databus publishes; the value names the Redis key ``feed:{value}``."""

    VEHICLE_POSITIONS = "vehicle_positions"
    TRIP_UPDATES = "trip_updates"
    ALERTS = "alerts"


# The feeds built from the fleet's hot state (``tasks``); Alerts is built from the service
# alerts in PostgreSQL by the ``alerts`` app.
HOT_STATE_FEEDS: tuple[FeedName, ...] = (FeedName.VEHICLE_POSITIONS, FeedName.TRIP_UPDATES)


@dataclass(frozen=True, slots=True)
class FeedSummary:
    """What is known about a stored feed without its payload (metrics, readiness)."""

    name: FeedName
    header_timestamp: int  # POSIX s, the FeedHeader.timestamp
    etag: str  # quoted strong entity tag, a hash of the payload
    entity_count: int
    built_at: float  # POSIX s when the build finished
    build_seconds: float  # hot-state read + build + serialisation


@dataclass(frozen=True, slots=True)
class StoredFeed:
    summary: FeedSummary
    payload: bytes  # a serialised transit_realtime.FeedMessage


def payload_etag(payload: bytes) -> str:
    """A strong HTTP entity tag (quoted) for the payload: equal bytes, equal tag."""
    return '"' + hashlib.blake2b(payload, digest_size=16).hexdigest() + '"'


# Write the fields only if the stored header timestamp is not newer than ours; the base64
# payload of an earlier version goes.
_SAVE_IF_NOT_OLDER = """
local stored = tonumber(redis.call('HGET', KEYS[1], ARGV[1]))
if stored and stored > tonumber(ARGV[2]) then return 0 end
redis.call('HSET', KEYS[1], unpack(ARGV, 4))
redis.call('HDEL', KEYS[1], ARGV[3])
return 1
"""


def feed_save(client: redis.Redis, feed: StoredFeed) -> bool:
    """Store ``feed``; False (nothing written) if a newer feed is already stored."""
    summary = feed.summary
    fields = {
        PROTOBUF: feed.payload,
        HEADER_TIMESTAMP: str(summary.header_timestamp),
        ETAG: summary.etag,
        ENTITY_COUNT: str(summary.entity_count),
        BUILT_AT: repr(summary.built_at),
        BUILD_SECONDS: repr(summary.build_seconds),
    }
    pairs = [item for pair in fields.items() for item in pair]
    written = binary_twin(client).eval(
        _SAVE_IF_NOT_OLDER,
        1,
        keys.feed(summary.name),
        HEADER_TIMESTAMP,
        str(summary.header_timestamp),
        LEGACY_PAYLOAD,
        *pairs,
    )
    return bool(written)


def feed_get(client: redis.Redis, name: FeedName) -> StoredFeed | None:
    """The stored feed with its payload; None if it was never built (or is unreadable)."""
    stored = binary_twin(client).hgetall(keys.feed(name))
    payload = stored.pop(PROTOBUF.encode(), None)
    fields = {
        key.decode(errors="replace"): value.decode(errors="replace")
        for key, value in stored.items()
    }
    summary = _summary_from_redis(name, fields)
    if summary is None:
        return None
    if payload is None:
        try:
            payload = base64.b64decode(fields.get(LEGACY_PAYLOAD, ""), validate=True)
        except binascii.Error:
            return None
    return StoredFeed(summary=summary, payload=payload)


def feed_summaries_get(client: redis.Redis) -> dict[FeedName, FeedSummary | None]:
    """Every feed's summary in one round trip, without payloads (None: never built)."""
    pipe = client.pipeline(transaction=False)
    for name in FeedName:
        pipe.hmget(keys.feed(name), SUMMARY_FIELDS)
    answers = pipe.execute()
    return {
        name: _summary_from_redis(name, dict(zip(SUMMARY_FIELDS, values, strict=True)))
        for name, values in zip(FeedName, answers, strict=True)
    }


def feed_header_timestamp_get(client: redis.Redis, name: FeedName) -> int | None:
    """The stored feed's header timestamp (the next build must not go below it)."""
    return _parse_int(client.hget(keys.feed(name), HEADER_TIMESTAMP))


def _summary_from_redis(name: FeedName, fields: Mapping[str, str | None]) -> FeedSummary | None:
    header_timestamp = _parse_int(fields.get(HEADER_TIMESTAMP))
    etag = fields.get(ETAG)
    if header_timestamp is None or not etag:
        return None
    return FeedSummary(
        name=name,
        header_timestamp=header_timestamp,
        etag=etag,
        entity_count=_parse_int(fields.get(ENTITY_COUNT)) or 0,
        built_at=_parse_float(fields.get(BUILT_AT)) or float(header_timestamp),
        build_seconds=_parse_float(fields.get(BUILD_SECONDS)) or 0.0,
    )


def _parse_int(text: str | None) -> int | None:
    try:
        return int(text) if text is not None else None
    except ValueError:
        return None


def _parse_float(text: str | None) -> float | None:
    try:
        return float(text) if text is not None else None
    except ValueError:
        return None
