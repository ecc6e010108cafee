"""The one MQTT publisher of telemetry: one paho-mqtt 2 client (MQTT 5), QoS 1.

The fleet simulator (``runner``) and the AVL replay (``realtime_engine.replay.runner``,
through ``replay_publisher``) both publish through it, as a ``publishing.FleetPublisher``
(its sibling for AVL gateways' Redis Streams is ``streams_publisher``); ``publish`` sends
bytes as given (the simulator's invalid payloads). Topics are the ingress contract's
``{root}/vehicle/{vid}/{leaf}``, payloads are built in ``messages``. Publishing never
waits and never fails: paho keeps every message the broker has not acknowledged (the
queue is unbounded) and sends it again after it reconnects, so a broker restart costs the
fleet nothing but the delay. Acknowledgements are counted from ``on_publish`` (a PUBACK),
never read off the ``MQTTMessageInfo``: paho marks a message published while disconnected
as failed (``MQTT_ERR_NO_CONN``, and ``is_published()`` raises) even once it has been
resent and acknowledged. ``close`` waits, bounded, for the outstanding ones, disconnects
and says how many were never acknowledged.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from databus.env import MqttAddress
from realtime_engine.ingest.topics import TelemetryLeaf, vehicle_topic
from realtime_engine.simulation.messages import occupancy_payload, position_payload
from realtime_engine.simulation.publishing import Fix, Load

logger = logging.getLogger(__name__)

# Unacknowledged messages in flight at once (the broker may allow fewer).
MAX_INFLIGHT = 1000
# Reconnect backoff after a lost connection (seconds): short, a broker restart takes a few.
RECONNECT_MIN_S, RECONNECT_MAX_S = 1, 5


class TelemetryPublisher:
    def __init__(
        self,
        address: MqttAddress,
        topic_root: str,
        *,
        client_id: str = "",
        name: str = "simulator",
        close_timeout_s: float = 10.0,
    ) -> None:
        """``name`` prefixes the client id and the log lines; ``close_timeout_s`` is how long
        ``close`` waits for acknowledgements unless told otherwise."""
        self._root = topic_root
        self._name = name
        self._close_timeout_s = close_timeout_s
        self._client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=client_id or f"{name}-{uuid.uuid4().hex[:8]}",
            protocol=mqtt.MQTTv5,
        )
        self._client.max_inflight_messages_set(MAX_INFLIGHT)
        self._client.max_queued_messages_set(0)  # unbounded: nothing dropped while reconnecting
        self._client.reconnect_delay_set(min_delay=RECONNECT_MIN_S, max_delay=RECONNECT_MAX_S)
        self._client.on_publish = self._on_publish
        self._client.on_connect = self._on_connect
        self._client.on_disconnect = self._on_disconnect
        if address.username:
            self._client.username_pw_set(address.username, address.password)
        if address.tls:
            self._client.tls_set()
        self._acked = threading.Condition()
        self.published = 0
        self.acknowledged = 0  # PUBACKs received (refused ones included)
        self.refused = 0  # PUBACKs with a failure reason code (e.g. not authorised)
        self.reconnects = 0
        self._connected_once = False
        self._client.connect(address.host, address.port)
        self._client.loop_start()

    @property
    def unacknowledged(self) -> int:
        return self.published - self.acknowledged

    def publish(self, vehicle_id: str, leaf: TelemetryLeaf, payload: bytes) -> None:
        """Send at QoS 1; kept and resent by paho until the broker acknowledges it."""
        info = self._client.publish(vehicle_topic(self._root, vehicle_id, leaf), payload, qos=1)
        if info.rc == mqtt.MQTT_ERR_QUEUE_SIZE:  # cannot happen with an unbounded queue
            raise RuntimeError(f"{self._name}: MQTT queue full")
        self.published += 1

    def publish_position(self, vehicle_id: str, fix: Fix) -> None:
        self.publish(vehicle_id, TelemetryLeaf.POSITION, position_payload(fix))

    def publish_occupancy(self, vehicle_id: str, load: Load) -> None:
        self.publish(vehicle_id, TelemetryLeaf.OCCUPANCY, occupancy_payload(load))

    def flush(self) -> None:
        """Nothing to do: paho's network thread sends each message as it is published."""

    def wait_acknowledged(self, timeout_s: float) -> bool:
        """Wait up to ``timeout_s`` until every message sent so far is acknowledged."""
        deadline = time.monotonic() + timeout_s
        with self._acked:
            while self.unacknowledged > 0:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._acked.wait(remaining)
        return True

    def close(self, timeout_s: float | None = None) -> int:
        """Wait up to ``timeout_s`` (default: the ``close_timeout_s`` it was made with) for
        acknowledgements, disconnect; how many never were."""
        self.wait_acknowledged(self._close_timeout_s if timeout_s is None else timeout_s)
        self._client.disconnect()
        self._client.loop_stop()
        unacknowledged = self.unacknowledged
        if unacknowledged:
            logger.warning(
                "%s: %d of %d messages unacknowledged at disconnect",
                self._name,
                unacknowledged,
                self.published,
            )
        if self.refused:
            logger.warning("%s: the broker refused %d messages", self._name, self.refused)
        return unacknowledged

    # paho's network thread.

    def _on_publish(self, client, userdata, mid, reason_code, properties) -> None:
        with self._acked:
            self.acknowledged += 1
            if reason_code.is_failure:
                self.refused += 1
            self._acked.notify_all()

    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:
        if reason_code.is_failure:
            logger.warning("%s: broker refused the connection: %s", self._name, reason_code)
        elif self._connected_once:
            self.reconnects += 1
            logger.info(
                "%s: reconnected; resending %d unacknowledged messages",
                self._name,
                self.unacknowledged,
            )
        self._connected_once = True

    def _on_disconnect(self, client, userdata, flags, reason_code, properties) -> None:
        if reason_code != 0:  # not our own disconnect()
            logger.warning("%s: connection lost (%s); reconnecting", self._name, reason_code)
