"""The MQTT ingest as a Celery worker bootstep (``celery -A databus worker``).

Added to the worker's steps by ``realtime_engine.apps``; included only where
``MQTT_CONSUMER_ENABLED`` is true. It runs one ``TelemetryConsumer`` (built by
``ingest.service.build_consumer``); thread, metrics exporter, drain on SIGTERM and exit
on the thread's death are every ingest step's (``realtime_engine.ingest_step``). On stop
the consumer writes and acknowledges the batch in hand and disconnects.
"""

from __future__ import annotations

from realtime_engine.ingest_step import IngestStep


class MqttIngestStep(IngestStep):
    label = "MQTT ingest"
    enabled_setting = "MQTT_CONSUMER_ENABLED"
    thread_name = "mqtt-ingest"

    def build(self, parent):
        from realtime_engine.ingest.service import build_consumer

        return build_consumer(hostname=parent.hostname)

    def describe(self, consumer) -> str:
        return f" (client id {consumer.config.client_id})"
