"""Build the ingress consumers from Django settings: the one place settings meet them.

``build_consumer``: the MQTT ``TelemetryConsumer``; ``build_streams_consumer``: the Redis
Streams ``StreamsConsumer`` (``realtime_engine.ingest.streams``). Both get the same batch
observers. Used by the worker bootsteps (``realtime_engine.mqtt``), ``manage.py ingest_session``,
the tests and the benchmarks. The client id names the broker session, and a session
outlives its process: a replacement must reuse its predecessor's id or the old session
keeps its share of the shared group, unread (docs/operations.md, "Ingest sessions and
replicas").

The worker's batch observers are composed here (``BATCH_OBSERVERS``), not in the
consumer, so that importing the consumer does not load the pipeline behind them.
"""

from __future__ import annotations

import socket
from collections.abc import Sequence

from django.conf import settings

from databus.redis import get_redis
from realtime_engine.dispatch import dispatch_batch
from realtime_engine.ingest.consumer import ConsumerConfig, TelemetryConsumer
from realtime_engine.ingest.history import DatabaseTarget, HistoryWriter
from realtime_engine.ingest.observers import BatchObserver, heal_database_connections
from realtime_engine.ingest.streams.consumer import StreamsConfig, StreamsConsumer
from realtime_engine.ingest.streams.group import default_consumer_name
from realtime_engine.ingest.vehicle_registry import VehicleAdmission
from realtime_engine.progression.observer import observe_progression
from realtime_engine.ws.fanout import observe_batch

# Progression before dispatch: the completion detector judges the progress matched
# from this very batch (a loop trip's two ends are one place; only progress tells them apart).
BATCH_OBSERVERS: tuple[BatchObserver, ...] = (
    heal_database_connections,
    observe_progression,
    dispatch_batch,
    observe_batch,
)


def ingest_client_id(*, explicit: str, replica_slot: str, topic_root: str, hostname: str) -> str:
    """The MQTT client id: ``MQTT_CLIENT_ID`` as given; else one per replica slot, the same
    for whichever container holds that slot; else (no slot) one per host name."""
    if explicit:
        return explicit
    if replica_slot:
        return f"databus-{topic_root}-ingest-{replica_slot}"
    return f"databus-ingest-{hostname}"


def _ingress_settings() -> dict[str, object]:
    """The settings both ingresses read alike: the drain on stop, the DLQ's bound and
    which vehicles are admitted."""
    return dict(
        drain_s=settings.INGEST_DRAIN_S,
        dlq_maxlen=settings.DLQ_MAXLEN,
        allow_unknown_vehicles=settings.INGEST_ALLOW_UNKNOWN_VEHICLES,
        vehicle_registry_refresh_s=settings.INGEST_VEHICLE_REGISTRY_REFRESH_S,
    )


def consumer_config(
    *, client_id: str | None = None, hostname: str | None = None, **overrides
) -> ConsumerConfig:
    """``client_id`` (tests, benchmarks) is used as given; otherwise ``ingest_client_id``
    with ``hostname`` (default: the machine's) as the last resort."""
    address = settings.MQTT_ADDRESS
    values = dict(
        host=address.host,
        port=address.port,
        username=address.username,
        password=address.password,
        tls=address.tls,
        client_id=client_id
        or ingest_client_id(
            explicit=settings.MQTT_CLIENT_ID,
            replica_slot=settings.INGEST_REPLICA_SLOT,
            topic_root=settings.MQTT_TOPIC_ROOT,
            hostname=hostname or socket.gethostname(),
        ),
        topic_root=settings.MQTT_TOPIC_ROOT,
        shared_group=settings.MQTT_SHARED_GROUP,
        session_expiry_s=settings.MQTT_SESSION_EXPIRY_S,
        batch_max=settings.INGEST_BATCH_MAX,
        flush_ms=settings.INGEST_FLUSH_MS,
        flush_min=settings.INGEST_FLUSH_MIN,
        receive_maximum=settings.INGEST_RECEIVE_MAXIMUM,
    )
    return ConsumerConfig(**(values | _ingress_settings() | overrides))


def build_consumer(
    *,
    client_id: str | None = None,
    hostname: str | None = None,
    observers: Sequence[BatchObserver] = BATCH_OBSERVERS,
    history: HistoryWriter | None = None,
    vehicles: VehicleAdmission | None = None,
    **overrides,
) -> TelemetryConsumer:
    """A consumer configured from settings, with the worker's observers unless ``observers``
    (tests, benchmarks: an empty tuple for none); ``overrides`` replace ConsumerConfig
    fields; ``vehicles`` (tests) replaces the registry the settings describe."""
    return TelemetryConsumer(
        consumer_config(client_id=client_id, hostname=hostname, **overrides),
        redis_client=get_redis(),
        history=history or HistoryWriter(DatabaseTarget.from_django()),
        observers=observers,
        vehicles=vehicles,
    )


def streams_config(*, consumer_name: str | None = None, **overrides) -> StreamsConfig:
    """``consumer_name`` (tests, benchmarks) is used as given; otherwise
    ``STREAMS_CONSUMER_NAME``, else one per process (``group.default_consumer_name``)."""
    values = dict(
        stream_keys=tuple(settings.STREAMS_KEYS),
        group=settings.STREAMS_GROUP,
        consumer_name=consumer_name or settings.STREAMS_CONSUMER_NAME or default_consumer_name(),
        batch_max=settings.STREAMS_BATCH_MAX,
        block_ms=settings.STREAMS_BLOCK_MS,
        claim_interval_s=settings.STREAMS_CLAIM_INTERVAL_S,
        claim_idle_ms=settings.STREAMS_CLAIM_IDLE_MS,
        max_deliveries=settings.STREAMS_MAX_DELIVERIES,
        unacked_max=settings.STREAMS_UNACKED_MAX,
    )
    return StreamsConfig(**(values | _ingress_settings() | overrides))


def build_streams_consumer(
    *,
    consumer_name: str | None = None,
    observers: Sequence[BatchObserver] = BATCH_OBSERVERS,
    history: HistoryWriter | None = None,
    vehicles: VehicleAdmission | None = None,
    redis_client=None,
    **overrides,
) -> StreamsConsumer:
    """A Streams consumer configured from settings, as ``build_consumer`` builds the MQTT one:
    ``overrides`` replace StreamsConfig fields (``stream_keys`` a tuple); ``redis_client``
    (benchmarks) replaces the hot-state Redis of ``REDIS_URL``, which holds the streams."""
    return StreamsConsumer(
        streams_config(consumer_name=consumer_name, **overrides),
        redis_client=redis_client or get_redis(),
        history=history or HistoryWriter(DatabaseTarget.from_django()),
        observers=observers,
        vehicles=vehicles,
    )
