"""The Redis Streams ingest as a Celery worker bootstep, beside (or instead of) MQTT's.

Added to the worker's steps by ``realtime_engine.apps``; included only where
``STREAMS_CONSUMER_ENABLED`` is true. It runs one ``StreamsConsumer`` (built by
``ingest.service.build_streams_consumer``, one group member per process); thread,
metrics exporter, drain on SIGTERM and exit on the thread's death are every ingest step's
(``realtime_engine.ingest_step``). On stop the consumer writes the batch in hand and
acknowledges what is durable; the rest stays pending for another member's claim pass.
"""

from __future__ import annotations

from realtime_engine.ingest_step import IngestStep


class StreamsIngestStep(IngestStep):
    label = "Streams ingest"
    enabled_setting = "STREAMS_CONSUMER_ENABLED"
    thread_name = "streams-ingest"

    def build(self, parent):
        from realtime_engine.ingest.service import build_streams_consumer

        return build_streams_consumer()

    def stop_budget_s(self, consumer) -> float:
        return consumer.config.stop_budget_s

    def describe(self, consumer) -> str:
        c = consumer.config
        return f" (consumer {c.consumer_name} of group {c.group} on {', '.join(c.stream_keys)})"
