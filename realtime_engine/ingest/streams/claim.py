"""Taking over the work of a consumer that died: one claim pass over the group's streams.

Every ``STREAMS_CLAIM_INTERVAL_S`` (and at start) the Streams consumer claims, with
XAUTOCLAIM, the entries pending longer than ``STREAMS_CLAIM_IDLE_MS`` in any consumer
of the group, itself included, and processes them like new ones. XAUTOCLAIM counts a
delivery; the count comes from XPENDING's extended form, and an entry delivered more than
``STREAMS_MAX_DELIVERIES`` times (it keeps killing or failing its consumers) is
dead-lettered as ``max_deliveries`` instead (``over_delivered``), so it cannot go round
forever. Entries deleted from the stream while pending are dropped from the pending list
by XAUTOCLAIM itself.

A consumer holding entries it cannot acknowledge yet (PostgreSQL down) resets their idle
time with ``touch`` (XCLAIM … JUSTID to itself, which counts no delivery) more often than
``STREAMS_CLAIM_IDLE_MS``, so that a live consumer's entries are not taken from it and their
delivery count does not grow while they only wait. Run by the consumer and by
``manage.py streams claim``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import replace

import redis

from realtime_engine.ingest.streams.entries import Entry

# XAUTOCLAIM's cursor: start (and, returned, "scanned to the end").
CURSOR_START = "0-0"


def claim_pages(
    client: redis.Redis,
    stream_key: str,
    group: str,
    consumer: str,
    *,
    min_idle_ms: int,
    count: int,
) -> Iterator[list[Entry]]:
    """XAUTOCLAIM ``stream_key`` page by page (``count`` entries each) for ``consumer``,
    each entry with its delivery count. Entries claimed are this consumer's from here on."""
    cursor = CURSOR_START
    while True:
        cursor, claimed, *_deleted = client.xautoclaim(
            stream_key, group, consumer, min_idle_time=min_idle_ms, start_id=cursor, count=count
        )
        if claimed:
            page = [Entry(stream_key, entry_id, fields or {}) for entry_id, fields in claimed]
            yield with_deliveries(client, stream_key, group, consumer, page)
        if cursor == CURSOR_START:
            return


def with_deliveries(
    client: redis.Redis, stream_key: str, group: str, consumer: str, entries: Sequence[Entry]
) -> list[Entry]:
    """``entries`` (of ``stream_key``, pending in ``consumer``) with their delivery counts,
    from XPENDING's extended form: one round trip for the page."""
    pipe = client.pipeline(transaction=False)
    for entry in entries:
        pipe.xpending_range(
            stream_key, group, entry.entry_id, entry.entry_id, 1, consumername=consumer
        )
    counts = {
        row["message_id"]: int(row["times_delivered"]) for reply in pipe.execute() for row in reply
    }
    return [replace(entry, deliveries=counts.get(entry.entry_id, 1)) for entry in entries]


def over_delivered(entry: Entry, max_deliveries: int) -> bool:
    """Delivered more than ``max_deliveries`` times: dead-letter it (``max_deliveries``)."""
    return entry.deliveries > max_deliveries


def touch(
    client: redis.Redis, group: str, consumer: str, held: Mapping[str, Sequence[str]]
) -> None:
    """Reset the idle time of the entries ``consumer`` holds (``{stream_key: [ids]}``)."""
    if not held:
        return
    pipe = client.pipeline(transaction=False)
    for stream_key, entry_ids in held.items():
        if entry_ids:
            pipe.xclaim(stream_key, group, consumer, 0, list(entry_ids), justid=True)
    pipe.execute()
