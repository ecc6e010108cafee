"""The simulator's MQTT publisher: one paho-mqtt 2 client (MQTT 5) sending at QoS 1.

Topics are the ingress contract's ``{root}/vehicle/{vid}/{leaf}``. Publishing does
not wait for each acknowledgement (paho keeps the unacknowledged messages and resends
them after a reconnect); ``close`` waits, bounded, for the outstanding ones and
disconnects. Used by ``runner``.
"""

from __future__ import annotations

import logging
import time
import uuid

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from backend.env import MqttAddress
from realtime_engine.ingest.topics import TelemetryLeaf, vehicle_topic

logger = logging.getLogger(__name__)

# Unacknowledged messages in flight at once (the broker may allow fewer).
MAX_INFLIGHT = 1000
# Forget acknowledged messages once this many are tracked.
PRUNE_AT = 2000


class TelemetryPublisher:
    def __init__(self, address: MqttAddress, topic_root: str, *, client_id: str = "") -> None:
        self._root = topic_root
        self._client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=client_id or f"simulator-{uuid.uuid4().hex[:8]}",
            protocol=mqtt.MQTTv5,
        )
        self._client.max_inflight_messages_set(MAX_INFLIGHT)
        self._client.max_queued_messages_set(0)  # unbounded: nothing dropped while reconnecting
        self._client.reconnect_delay_set(min_delay=1, max_delay=10)
        if address.username:
            self._client.username_pw_set(address.username, address.password)
        if address.tls:
            self._client.tls_set()
        self._client.connect(address.host, address.port)
        self._client.loop_start()
        self._pending: list[mqtt.MQTTMessageInfo] = []
        self.published = 0

    def publish(self, vehicle_id: str, leaf: TelemetryLeaf, payload: bytes) -> None:
        topic = vehicle_topic(self._root, vehicle_id, leaf)
        self._pending.append(self._client.publish(topic, payload, qos=1))
        self.published += 1
        if len(self._pending) >= PRUNE_AT:
            self._pending = [info for info in self._pending if not info.is_published()]

    def close(self, timeout_s: float = 10.0) -> int:
        """Wait up to ``timeout_s`` for acknowledgements, disconnect; the count still unsent."""
        deadline = time.monotonic() + timeout_s
        unsent = 0
        for info in self._pending:
            remaining = deadline - time.monotonic()
            try:
                if remaining > 0:
                    info.wait_for_publish(remaining)
            except (RuntimeError, ValueError):
                pass  # not sent (disconnected, queue error): counted below
            if not info.is_published():
                unsent += 1
        self._pending.clear()
        self._client.disconnect()
        self._client.loop_stop()
        if unsent:
            logger.warning("simulator: %d messages unacknowledged at disconnect", unsent)
        return unsent
