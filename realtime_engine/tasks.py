"""Celery tasks of the realtime_engine app: thin interfaces to one service each."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from celery import shared_task
from django.conf import settings

from databus.redis import get_redis
from realtime_engine.ingest.history import purge_before
from realtime_engine.scans import scan_stale_runs as scan
from runs.services.thresholds import thresholds_get


@shared_task(name="realtime_engine.purge_position_history")
def purge_position_history() -> int:
    """Delete position history older than ``POSITION_RETENTION_DAYS``; returns rows deleted."""
    cutoff = datetime.now(UTC) - timedelta(days=settings.POSITION_RETENTION_DAYS)
    return purge_before(cutoff)


# Registered under its old name (it lived in runs.tasks): beat's schedule (databus.beat)
# and tasks already queued by running deployments name it so.
@shared_task(name="runs.scan_stale_runs")
def scan_stale_runs() -> int:
    """Enqueue tracking-lost / tracking-expired events for silent runs; returns how many."""
    return len(scan(get_redis(), thresholds_get()))
