"""Batch observers: functions the consumer calls after each batch's hot-state writes are safe.

Each is ``(batch: AcceptedBatch, redis_client) -> None``, called in order, before
the batch is acknowledged (so an observer sees every message at least once; a
redelivery may show it twice). An observer's exception is logged and counted
(``databus_ingest_observer_errors_total``) and never stops ingest or acks.
Issue 5 adds detector dispatch here; later issues map-matching and WebSocket fan-out.

The ingest thread lives as long as the worker, with no request boundary at which Django
would drop a broken connection: ``heal_database_connections`` runs first in every
batch and is that boundary, so a PostgreSQL restart costs no worker restart.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from databus.db_health import heal_connections
from realtime_engine.dispatch import dispatch_batch
from realtime_engine.ingest.batch import AcceptedBatch
from realtime_engine.progression import observe_progression
from realtime_engine.ws.fanout import observe_batch

BatchObserver = Callable[[AcceptedBatch, Any], None]


def heal_database_connections(batch: AcceptedBatch, redis_client: Any) -> None:
    """Drop this thread's broken or over-age database connection before the batch uses it."""
    heal_connections()


# Progression before dispatch: the completion detector judges the progress matched
# from this very batch (a loop trip's two ends are one place; only progress tells them apart).
BATCH_OBSERVERS: tuple[BatchObserver, ...] = (
    heal_database_connections,
    observe_progression,
    dispatch_batch,
    observe_batch,
)

__all__ = ["BATCH_OBSERVERS", "AcceptedBatch", "BatchObserver"]
