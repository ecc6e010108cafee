"""Build a ``TelemetryConsumer`` from Django settings: the one place settings meet the consumer.

Used by the worker bootstep (``realtime_engine.mqtt``) and the benchmark.
"""

from __future__ import annotations

import socket

from django.conf import settings

from databus.redis import get_redis
from realtime_engine.ingest.consumer import ConsumerConfig, TelemetryConsumer
from realtime_engine.ingest.history import DatabaseTarget, HistoryWriter


def consumer_config(*, client_id: str | None = None, **overrides) -> ConsumerConfig:
    address = settings.MQTT_ADDRESS
    values = dict(
        host=address.host,
        port=address.port,
        username=address.username,
        password=address.password,
        tls=address.tls,
        client_id=settings.MQTT_CLIENT_ID or client_id or f"databus-ingest-{socket.gethostname()}",
        topic_root=settings.MQTT_TOPIC_ROOT,
        shared_group=settings.MQTT_SHARED_GROUP,
        session_expiry_s=settings.MQTT_SESSION_EXPIRY_S,
        batch_max=settings.INGEST_BATCH_MAX,
        flush_ms=settings.INGEST_FLUSH_MS,
        dlq_maxlen=settings.DLQ_MAXLEN,
    )
    values.update(overrides)
    return ConsumerConfig(**values)


def build_consumer(
    *,
    client_id: str | None = None,
    observers=None,
    history: HistoryWriter | None = None,
    **overrides,
) -> TelemetryConsumer:
    """A consumer configured from settings; ``overrides`` replace ConsumerConfig fields."""
    extra = {} if observers is None else {"observers": observers}
    return TelemetryConsumer(
        consumer_config(client_id=client_id, **overrides),
        redis_client=get_redis(),
        history=history or HistoryWriter(DatabaseTarget.from_django()),
        **extra,
    )
