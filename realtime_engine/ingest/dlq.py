"""The dead-letter stream ``telemetry:dlq``: how a rejection is recorded and read back.

Written by the consumer (``entry_fields`` inside its batch pipeline); read,
replayed and purged by ``manage.py dlq``. The raw payload is stored as text when
it is UTF-8 and as base64 otherwise, so nothing is lost.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass

import redis

from databus import keys
from realtime_engine.ingest.decode import Rejection

UTF8 = "utf-8"
BASE64 = "base64"


def entry_fields(rejection: Rejection) -> dict[str, str]:
    try:
        payload, encoding = rejection.payload.decode(UTF8), UTF8
    except UnicodeDecodeError:
        payload, encoding = base64.b64encode(rejection.payload).decode("ascii"), BASE64
    return {
        "topic": rejection.topic,
        "payload": payload,
        "payload_encoding": encoding,
        "reason": rejection.reason.value,
        "message": rejection.detail,
        "received_at": repr(rejection.received_at),
    }


@dataclass(frozen=True)
class DeadLetter:
    entry_id: str
    topic: str
    payload: bytes
    reason: str
    message: str
    received_at: float

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
        return cls(
            entry_id,
            fields.get("topic", ""),
            raw,
            fields.get("reason", ""),
            fields.get("message", ""),
            received_at,
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
