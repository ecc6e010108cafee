"""Prometheus metrics of telemetry ingest, defined once against ``databus.metrics.REGISTRY``.

Written by the ingress consumers, MQTT and Streams (counted per batch, not per message,
to keep the hot path cheap); exported by the worker's exporter port (``WORKER_METRICS_PORT``).
"""

from __future__ import annotations

from typing import TypeVar

from prometheus_client import Counter, Gauge, Histogram

from databus.metrics import REGISTRY

_Metric = TypeVar("_Metric", Counter, Gauge)

# One scale for the time to handle a batch, so that the two ingresses' histograms compare.
BATCH_SECONDS_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5)

RECEIVED = Counter(
    "databus_ingest_messages_received",
    "MQTT telemetry messages received",
    ["entity"],
    registry=REGISTRY,
)
ACCEPTED = Counter(
    "databus_ingest_messages_accepted",
    "Telemetry messages written to hot state",
    ["entity"],
    registry=REGISTRY,
)
REJECTED = Counter(
    "databus_ingest_messages_rejected",
    "Telemetry messages dead-lettered",
    ["entity", "reason"],
    registry=REGISTRY,
)
BATCH_SIZE = Histogram(
    "databus_ingest_batch_size",
    "Messages per flushed batch",
    buckets=(1, 5, 10, 25, 50, 100, 250, 500, 1000, 2000, 5000),
    registry=REGISTRY,
)
FLUSH_SECONDS = Histogram(
    "databus_ingest_flush_seconds",
    "Time to write and acknowledge one batch",
    buckets=BATCH_SECONDS_BUCKETS,
    registry=REGISTRY,
)
LAG_SECONDS = Histogram(
    "databus_ingest_lag_seconds",
    "Receive time minus payload timestamp, per vehicle and batch",
    buckets=(0.5, 1, 2, 5, 10, 30, 60, 300, 3600),
    registry=REGISTRY,
)
DLQ_LENGTH = Gauge(
    "databus_ingest_dlq_length", "Entries in the telemetry:dlq stream", registry=REGISTRY
)
REGISTERED_VEHICLES = Gauge(
    "databus_ingest_registered_vehicles",
    "Vehicle ids in the ingest registry (those whose telemetry is accepted)",
    registry=REGISTRY,
)
RECONNECTS = Counter(
    "databus_ingest_reconnects", "MQTT reconnections of the consumer", registry=REGISTRY
)
STORE_FAILURES = Counter(
    "databus_ingest_store_failures",
    "Failed hot-state or history writes (retried, messages stay unacked)",
    ["store"],
    registry=REGISTRY,
)
OBSERVER_ERRORS = Counter(
    "databus_ingest_observer_errors", "Batch observers that raised", ["observer"], registry=REGISTRY
)


def _per_stream(metric: type[_Metric], name: str, documentation: str, *labels: str) -> _Metric:
    """A Streams-ingress metric: labelled by stream key first, in ``REGISTRY``."""
    return metric(name, documentation, ["stream", *labels], registry=REGISTRY)


# The Redis Streams ingress (realtime_engine.ingest.streams), per stream key.
STREAM_READ = _per_stream(
    Counter,
    "databus_streams_records_read",
    "Stream entries read by the consumer group (new and claimed)",
)
STREAM_ACCEPTED = _per_stream(
    Counter,
    "databus_streams_records_accepted",
    "Stream entries decoded into a position and written to hot state",
)
STREAM_CLAIMED = _per_stream(
    Counter,
    "databus_streams_records_claimed",
    "Stream entries taken over from an idle consumer (XAUTOCLAIM)",
)
STREAM_DEAD_LETTERED = _per_stream(
    Counter,
    "databus_streams_records_dead_lettered",
    "Stream entries dead-lettered to telemetry:dlq (and acknowledged)",
    "reason",
)
STREAM_BATCH_SECONDS = Histogram(
    "databus_streams_batch_seconds",
    "Time to decode, write hot state and hand one read batch to history",
    buckets=BATCH_SECONDS_BUCKETS,
    registry=REGISTRY,
)
STREAM_GROUP_LAG = _per_stream(
    Gauge,
    "databus_streams_group_lag",
    "Entries of the stream not yet delivered to the consumer group (XINFO GROUPS lag)",
)
STREAM_GROUP_PENDING = _per_stream(
    Gauge,
    "databus_streams_group_pending",
    "Entries delivered to the consumer group and not yet acknowledged (XINFO GROUPS pending)",
)
