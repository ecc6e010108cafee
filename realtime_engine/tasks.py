"""Celery tasks of the realtime_engine app: thin interfaces to one service each."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from celery import shared_task
from django.conf import settings

from realtime_engine.ingest.history import purge_before


@shared_task(name="realtime_engine.purge_position_history")
def purge_position_history() -> int:
    """Delete position history older than ``POSITION_RETENTION_DAYS``; returns rows deleted."""
    cutoff = datetime.now(UTC) - timedelta(days=settings.POSITION_RETENTION_DAYS)
    return purge_before(cutoff)
