"""Batch observers: what the consumer calls after each batch's hot-state writes are safe.

An observer is ``(batch: AcceptedBatch, redis_client) -> None``. The consumer calls its
observers in order, before the batch is acknowledged (so an observer sees every message
at least once; a redelivery may show it twice). An observer's exception is logged and
counted (``databus_ingest_observer_errors_total``) and never stops ingest or acks.

This module holds the type and the one observer that belongs to ingest itself, and
imports nothing of the pipeline, so importing the consumer does not load it. The
worker's observers (progression, detector dispatch, WebSocket fan-out) are composed in
``realtime_engine.ingest.service.BATCH_OBSERVERS``.

The ingest thread lives as long as the worker, with no request boundary at which Django
would drop a broken connection: ``heal_database_connections`` runs first in every
batch and is that boundary, so a PostgreSQL restart costs no worker restart.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from databus.db_health import heal_connections
from realtime_engine.ingest.batch import AcceptedBatch

BatchObserver = Callable[[AcceptedBatch, Any], None]


def heal_database_connections(batch: AcceptedBatch, redis_client: Any) -> None:
    """Drop this thread's broken or over-age database connection before the batch uses it."""
    heal_connections()


__all__ = ["AcceptedBatch", "BatchObserver", "heal_database_connections"]
