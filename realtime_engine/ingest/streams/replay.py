"""Re-inject dead letters of the Streams ingress: XADD each payload back to its stream.

Used by ``manage.py dlq replay`` for letters whose topic is ``stream:{key}`` (the MQTT
ones are published to the broker: ``realtime_engine.ingest.replay``). Each letter is
appended to its stream and removed from the DLQ in one MULTI/EXEC, so an interrupted
replay neither loses a letter nor appends one twice. The entry gets a new id: the consumer
group reads it as new, and the history's unique (vehicle, timestamp) makes a record that
was stored already add no row. A payload still invalid lands in the DLQ again.
"""

from __future__ import annotations

from collections.abc import Iterable

import redis

from databus import keys
from realtime_engine.ingest.dlq import DeadLetter
from realtime_engine.ingest.replay import TruncatedLetters
from realtime_engine.ingest.streams.record import PAYLOAD_FIELD, stream_of_topic


def is_stream_letter(letter: DeadLetter) -> bool:
    return stream_of_topic(letter.topic) is not None


def readd(letters: Iterable[DeadLetter], *, redis_client: redis.Redis) -> int:
    """Append each letter's payload to its stream, dropping the letter; returns how many."""
    letters = list(letters)
    truncated = [letter for letter in letters if letter.truncated]
    if truncated:
        raise TruncatedLetters(truncated)
    for letter in letters:
        stream_key = stream_of_topic(letter.topic)
        if stream_key is None:
            raise ValueError(f"letter {letter.entry_id} is not from a stream ({letter.topic})")
        pipe = redis_client.pipeline(transaction=True)
        pipe.xadd(stream_key, {PAYLOAD_FIELD: letter.payload})
        pipe.xdel(keys.TELEMETRY_DLQ, letter.entry_id)
        pipe.execute()
    return len(letters)
