"""Re-inject dead letters: publish each payload back to its topic, then drop it from the DLQ.

Used by ``manage.py dlq replay`` after a fix (a decoder change, a corrected
firmware setting). A letter is removed only once the broker acknowledged its
QoS 1 publish, so an interrupted replay loses nothing; a payload that is still
invalid simply lands in the DLQ again. A truncated letter (``DeadLetter.truncated``)
no longer holds the message and is refused before anything is published.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable

import paho.mqtt.client as mqtt
import redis
from paho.mqtt.enums import CallbackAPIVersion

from backend.env import MqttAddress
from realtime_engine.ingest import dlq
from realtime_engine.ingest.dlq import DeadLetter

PUBLISH_TIMEOUT_S = 30


class TruncatedLetters(ValueError):
    """Letters that keep only part of their message: publishing them would send another one."""

    def __init__(self, letters: list[DeadLetter]) -> None:
        super().__init__(", ".join(letter.entry_id for letter in letters))
        self.letters = letters


def republish(
    letters: Iterable[DeadLetter], *, broker: MqttAddress, redis_client: redis.Redis
) -> int:
    letters = list(letters)
    truncated = [letter for letter in letters if letter.truncated]
    if truncated:
        raise TruncatedLetters(truncated)
    client = mqtt.Client(
        CallbackAPIVersion.VERSION2,
        client_id=f"databus-dlq-{uuid.uuid4().hex}",
        protocol=mqtt.MQTTv5,
    )
    if broker.username:
        client.username_pw_set(broker.username, broker.password)
    if broker.tls:
        client.tls_set()
    client.connect(broker.host, broker.port)
    client.loop_start()
    replayed = 0
    try:
        for letter in letters:
            info = client.publish(letter.topic, letter.payload, qos=1)
            info.wait_for_publish(PUBLISH_TIMEOUT_S)
            dlq.delete(redis_client, [letter.entry_id])
            replayed += 1
    finally:
        client.disconnect()
        client.loop_stop()
    return replayed
