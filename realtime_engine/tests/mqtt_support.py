"""Test helpers around real MQTT: a QoS 1 publisher and an in-process consumer runner."""

from __future__ import annotations

import json
import uuid
from urllib.parse import urlsplit

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from realtime_engine.ingest.consumer import TelemetryConsumer
from realtime_engine.ingest.service import build_consumer
from realtime_engine.tests.consumer_threads import ConsumerThreads


def broker_address(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    return parts.hostname, parts.port or 1883


def publish(url: str, messages: list[tuple[str, bytes | dict]], *, timeout: float = 60) -> None:
    """Publish at QoS 1 and return once the broker has acknowledged every message."""
    host, port = broker_address(url)
    client = mqtt.Client(
        CallbackAPIVersion.VERSION2, client_id=f"pub-{uuid.uuid4().hex[:8]}", protocol=mqtt.MQTTv5
    )
    client.max_inflight_messages_set(1000)
    client.max_queued_messages_set(0)
    client.connect(host, port)
    client.loop_start()
    try:
        infos = [
            client.publish(
                topic,
                payload if isinstance(payload, bytes) else json.dumps(payload).encode(),
                qos=1,
            )
            for topic, payload in messages
        ]
        for info in infos:
            info.wait_for_publish(timeout)
    finally:
        client.disconnect()
        client.loop_stop()


class ConsumerRunner(ConsumerThreads[TelemetryConsumer]):
    """Runs TelemetryConsumers in threads of the test process; stops them all at the end."""

    def start(
        self, broker_url: str, *, observers=(), client_id: str | None = None, **overrides
    ) -> TelemetryConsumer:
        host, port = broker_address(broker_url)
        overrides.setdefault("session_expiry_s", 60)
        consumer = build_consumer(
            client_id=client_id or f"test-ingest-{uuid.uuid4().hex[:8]}",
            observers=observers,
            host=host,
            port=port,
            **overrides,
        )
        return self.launch(consumer, "consumer did not subscribe")

    def stop_all(self) -> None:
        running, self._running = self._running, []
        for consumer, thread in running:
            consumer.request_stop()
            thread.join(30)
