"""The dead-letter stream ``telemetry:dlq``: how a rejection is recorded and read back.

Written by the consumer (``entry_fields`` inside its batch pipeline); read,
replayed and purged by ``manage.py dlq``. The raw payload is stored as text when
it is UTF-8 and as base64 otherwise. Only its first ``PAYLOAD_KEEP_BYTES`` are kept,
with its whole length and SHA-256: the broker accepts payloads up to 1 MiB, and a DLQ
that stored them whole (``DLQ_MAXLEN`` of them) could fill Redis and stop ingest. A
truncated letter says so (``truncated``) and is never replayed.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass

import redis

from databus import keys
from realtime_engine.ingest.decode import Rejection

UTF8 = "utf-8"
BASE64 = "base64"

# What one letter keeps of a payload: as much as the largest payload ingest accepts
# (``MAX_PAYLOAD_BYTES``), so every letter but a ``payload_too_large`` one is whole.
PAYLOAD_KEEP_BYTES = 4096
# Topic and message are cut too: a topic may be 64 KiB long, and a message quotes input.
TEXT_KEEP_CHARS = 1024
TRUE, FALSE = "1", "0"


def entry_fields(rejection: Rejection) -> dict[str, str]:
    raw = rejection.payload
    kept = raw[:PAYLOAD_KEEP_BYTES]
    try:
        payload, encoding = kept.decode(UTF8), UTF8
    except UnicodeDecodeError:  # binary, or a multi-byte character cut at the limit
        payload, encoding = base64.b64encode(kept).decode("ascii"), BASE64
    topic = rejection.topic[:TEXT_KEEP_CHARS]
    truncated = len(kept) < len(raw) or len(topic) < len(rejection.topic)
    return {
        "topic": topic,
        "payload": payload,
        "payload_encoding": encoding,
        "payload_length": str(len(raw)),
        "payload_sha256": hashlib.sha256(raw).hexdigest(),
        "truncated": TRUE if truncated else FALSE,
        "reason": rejection.reason.value,
        "message": rejection.detail[:TEXT_KEEP_CHARS],
        "received_at": repr(rejection.received_at),
    }


@dataclass(frozen=True)
class DeadLetter:
    """One letter. ``payload`` is what was kept (all of it unless ``truncated``);
    ``payload_length`` and ``payload_sha256`` describe the whole payload as received."""

    entry_id: str
    topic: str
    payload: bytes
    reason: str
    message: str
    received_at: float
    payload_length: int
    payload_sha256: str
    truncated: bool

    @classmethod
    def from_entry(cls, entry_id: str, fields: dict[str, str]) -> DeadLetter:
        text = fields.get("payload", "")
        raw = (
            base64.b64decode(text)
            if fields.get("payload_encoding") == BASE64
            else text.encode(UTF8)
        )
        try:
            received_at = float(fields.get("received_at", "0"))
        except ValueError:
            received_at = 0.0
        try:
            payload_length = int(fields.get("payload_length", len(raw)))
        except ValueError:
            payload_length = len(raw)
        # Letters written before truncation existed hold their payload whole.
        return cls(
            entry_id,
            fields.get("topic", ""),
            raw,
            fields.get("reason", ""),
            fields.get("message", ""),
            received_at,
            payload_length,
            fields.get("payload_sha256") or hashlib.sha256(raw).hexdigest(),
            fields.get("truncated", FALSE) != FALSE or payload_length != len(raw),
        )


def read(client: redis.Redis, *, count: int, start: str = "-") -> list[DeadLetter]:
    return [
        DeadLetter.from_entry(entry_id, fields)
        for entry_id, fields in client.xrange(keys.TELEMETRY_DLQ, min=start, count=count)
    ]


def get(client: redis.Redis, entry_id: str) -> DeadLetter | None:
    entries = client.xrange(keys.TELEMETRY_DLQ, min=entry_id, max=entry_id)
    return DeadLetter.from_entry(*entries[0]) if entries else None


def delete(client: redis.Redis, entry_ids: list[str]) -> int:
    return client.xdel(keys.TELEMETRY_DLQ, *entry_ids) if entry_ids else 0


def length(client: redis.Redis) -> int:
    return client.xlen(keys.TELEMETRY_DLQ)


def purge(client: redis.Redis) -> int:
    length = client.xlen(keys.TELEMETRY_DLQ)
    client.delete(keys.TELEMETRY_DLQ)
    return length
