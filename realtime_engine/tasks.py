"""Celery tasks of the realtime_engine app: thin interfaces to one service each."""

from __future__ import annotations

from datetime import UTC, datetime

from celery import shared_task
from django.conf import settings

from databus.redis import get_redis
from realtime_engine.position_partitions.maintenance import maintain
from realtime_engine.scans import scan_stale_runs as scan
from realtime_engine.segment_samples import segment_samples_update
from runs.services.thresholds import thresholds_get


@shared_task(name="realtime_engine.maintain_position_partitions")
def maintain_position_partitions() -> dict:
    """Create the position history's day partitions ahead (POSITION_PARTITIONS_AHEAD_DAYS),
    drop the days past POSITION_RETENTION_DAYS; returns what it did."""
    report = maintain(
        now=datetime.now(UTC),
        ahead_days=settings.POSITION_PARTITIONS_AHEAD_DAYS,
        retention_days=settings.POSITION_RETENTION_DAYS,
    )
    return report.as_dict()


@shared_task(name="realtime_engine.update_segment_samples")
def update_segment_samples() -> dict:
    """Derive the prediction history's samples of the stop events upserted since the last
    run, trim and expire them (PREDICTION_HISTORY_DAYS); returns what it did."""
    return segment_samples_update(days=settings.PREDICTION_HISTORY_DAYS).as_dict()


# The retention task's name before the history was partitioned: tasks already queued by
# running deployments name it so. It now does the whole maintenance.
@shared_task(name="realtime_engine.purge_position_history")
def purge_position_history() -> dict:
    """The former name of ``maintain_position_partitions``."""
    return maintain_position_partitions()


# Registered under its old name (it lived in runs.tasks): beat's schedule (databus.beat)
# and tasks already queued by running deployments name it so.
@shared_task(name="runs.scan_stale_runs")
def scan_stale_runs() -> int:
    """Enqueue tracking-lost / tracking-expired events for silent runs; returns how many."""
    return len(scan(get_redis(), thresholds_get()))
