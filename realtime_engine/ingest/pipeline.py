"""What every ingress does with one batch of received telemetry, whatever carried it.

An ingress (the MQTT consumer, ``consumer.py``; the Redis Streams consumer,
``streams/consumer.py``) receives messages, decodes each into a ``Received`` and hands a
batch to ``TelemetryPipeline.write``: the vehicle registry is refreshed when due, the
batch is planned (``plan_batch``: admission, coalescing, history, rejections) and hot
state is written in one Redis pipeline together with the dead letters. History and
acknowledgement stay the ingress's own (an MQTT ack and an XACK differ); once it has
handed the positions to history, ``publish`` counts the batch's metrics and calls the
batch observers (``service.BATCH_OBSERVERS``: progression, detector dispatch, fan-out).

``write`` raises ``redis.RedisError`` (hot state not writable) and
``VehicleRegistryUnavailable`` (no registry to judge by yet): nothing was written, the
ingress keeps its batch unacknowledged and retries.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import redis

from realtime_engine.ingest import metrics
from realtime_engine.ingest.batch import BatchPlan, accepted_batch, plan_batch
from realtime_engine.ingest.decode import Received
from realtime_engine.ingest.hot_state import HotStateResult, HotStateWriter
from realtime_engine.ingest.observers import BatchObserver
from realtime_engine.ingest.vehicle_registry import VehicleAdmission

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class WrittenBatch:
    """A batch whose hot state (and dead letters) Redis holds: ``plan.history`` is what the
    ingress must make durable before it acknowledges ``size`` messages."""

    plan: BatchPlan
    hot_state: HotStateResult
    size: int


class TelemetryPipeline:
    """One per ingress consumer, used from that consumer's thread only."""

    def __init__(
        self,
        redis_client: redis.Redis,
        *,
        vehicles: VehicleAdmission,
        observers: Sequence[BatchObserver],
        dlq_maxlen: int,
    ) -> None:
        # One connection of the caller's pool held for this thread (observers included):
        # checking one out of the pool and back for each command cost about as much client
        # CPU as the round trip itself (docs/benchmarks.md, "Session 10").
        self._redis = redis.Redis(
            connection_pool=redis_client.connection_pool, single_connection_client=True
        )
        self._hot_state = HotStateWriter(self._redis, dlq_maxlen=dlq_maxlen)
        self._vehicles = vehicles
        self._observers = tuple(observers)

    def write(self, received: Iterable[Received], *, size: int) -> WrittenBatch:
        """Plan ``received`` (``size`` messages) and write its hot state and dead letters."""
        self._vehicles.refresh_if_due()
        plan = plan_batch(received, vehicles=self._vehicles)
        return WrittenBatch(plan, self._hot_state.write(plan), size)

    def publish(self, written: WrittenBatch) -> None:
        """Count the batch and tell the observers: after hot state, before the acks."""
        self._count(written.plan, written.size, written.hot_state.dlq_length)
        result = written.hot_state
        self._notify(
            accepted_batch(
                written.plan, result.applied_positions, result.applied_occupancies, result.claims
            )
        )

    def _count(self, plan: BatchPlan, size: int, dlq_length: int | None) -> None:
        metrics.BATCH_SIZE.observe(size)
        for entity, n in plan.received.items():
            metrics.RECEIVED.labels(entity=entity).inc(n)
        for entity, n in plan.accepted.items():
            metrics.ACCEPTED.labels(entity=entity).inc(n)
        for (entity, reason), n in plan.rejected.items():
            metrics.REJECTED.labels(entity=entity, reason=reason).inc(n)
        for value in plan.latest_positions.values():
            metrics.LAG_SECONDS.observe(value.received_at - value.timestamp)
        if dlq_length is not None:
            metrics.DLQ_LENGTH.set(dlq_length)

    def _notify(self, batch) -> None:
        # ``history`` too: fixes older than hot state (this worker behind another on one
        # shared subscription) still reach the map-matcher, which matches them in order.
        if not (batch.positions or batch.occupancies or batch.history):
            return
        for observer in self._observers:
            try:
                observer(batch, self._redis)
            except Exception:
                name = getattr(observer, "__qualname__", repr(observer))
                metrics.OBSERVER_ERRORS.labels(observer=name).inc()
                logger.exception("batch observer %s failed", name)
