"""Re-inject dead letters: publish each payload back to its topic, then drop it from the DLQ.

Used by ``manage.py dlq replay`` after a fix (a decoder change, a corrected
firmware setting). A letter is removed only once the broker acknowledged its
QoS 1 publish with success, so an interrupted replay loses nothing: a publish the
broker refuses (its ACL: "not authorized") or never acknowledges stops the replay
with ``ReplayStopped`` and keeps that letter and the rest. A payload that is still
invalid simply lands in the DLQ again. A truncated letter (``DeadLetter.truncated``)
no longer holds the message and is refused before anything is published.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable

import paho.mqtt.client as mqtt
import redis
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.reasoncodes import ReasonCode

from databus.env import MqttAddress
from realtime_engine.ingest import dlq
from realtime_engine.ingest.dlq import DeadLetter

PUBLISH_TIMEOUT_S = 30


class TruncatedLetters(ValueError):
    """Letters that keep only part of their message: publishing them would send another one."""

    def __init__(self, letters: list[DeadLetter]) -> None:
        super().__init__(", ".join(letter.entry_id for letter in letters))
        self.letters = letters


class ReplayStopped(RuntimeError):
    """The broker refused or did not acknowledge a letter: it and those after it are kept."""

    def __init__(self, letter: DeadLetter, replayed: int, why: str) -> None:
        super().__init__(f"letter {letter.entry_id} not replayed ({why}); {replayed} replayed")
        self.letter = letter
        self.replayed = replayed


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
    acknowledged: dict[int, ReasonCode] = {}

    def on_publish(_client, _userdata, mid, reason_code, _properties) -> None:
        acknowledged[mid] = reason_code  # runs before the publish counts as done

    client.on_publish = on_publish
    client.connect(broker.host, broker.port)
    client.loop_start()
    replayed = 0
    try:
        for letter in letters:
            info = client.publish(letter.topic, letter.payload, qos=1)
            try:
                info.wait_for_publish(PUBLISH_TIMEOUT_S)
            except (RuntimeError, ValueError) as error:  # not queued, or the client is gone
                raise ReplayStopped(letter, replayed, str(error)) from None
            reason = acknowledged.pop(info.mid, None)
            if not info.is_published() or reason is None:
                raise ReplayStopped(letter, replayed, "no acknowledgement from the broker")
            if reason.is_failure:
                raise ReplayStopped(letter, replayed, f"the broker answered {reason}")
            dlq.delete(redis_client, [letter.entry_id])
            replayed += 1
    finally:
        client.disconnect()
        client.loop_stop()
    return replayed
