"""Celery tasks of the prediction log: thin interfaces to ``sample`` and ``storage``.

Registered through ``reports.tasks`` (which imports this module), scheduled by
``databus.beat``: a sample every ``PREDICTION_LOG_INTERVAL_S``; the day partitions'
maintenance every ``PREDICTION_LOG_PARTITIONS_INTERVAL_S`` (the position history's,
``realtime_engine.position_partitions``, on this table: the days ahead created, the days
past ``PREDICTION_LOG_RETENTION_DAYS`` dropped whole); the past days' accuracy summaries
every ``REPORTS_SUMMARY_INTERVAL_S`` (with the other daily summaries).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from celery import shared_task
from django.conf import settings
from google.protobuf.message import DecodeError

from databus.redis import get_redis
from realtime_engine.position_partitions.maintenance import maintain
from reports.models import PREDICTION_LOG_PARTITIONS
from reports.prediction_log.daily import accuracy_summarize_due_days
from reports.prediction_log.sample import sample_of
from reports.prediction_log.storage import sample_store
from schedule_engine.feeds.store import FeedName, feed_get

logger = logging.getLogger(__name__)


def prediction_log_sample() -> int:
    """Log the predictions of the TripUpdates feed stored now; the number of rows written
    (0 without a feed, or when this feed was sampled already)."""
    feed = feed_get(get_redis(), FeedName.TRIP_UPDATES)
    if feed is None:
        return 0
    try:
        sample = sample_of(feed.payload, max_horizon_s=settings.PREDICTION_LOG_MAX_HORIZON_S)
    except DecodeError:
        # The feed's bytes are the builder's own; unreadable ones are a bug to see, not
        # a reason to retry: the next sample reads the next build.
        logger.exception("prediction log: the stored TripUpdates feed does not parse")
        return 0
    return sample_store(sample)


@shared_task(name="reports.sample_prediction_log")
def sample_prediction_log() -> int:
    """Sample the published TripUpdates feed into the prediction log; rows written."""
    return prediction_log_sample()


@shared_task(name="reports.maintain_prediction_log_partitions")
def maintain_prediction_log_partitions() -> dict:
    """Create the prediction log's day partitions ahead (PREDICTION_LOG_PARTITIONS_AHEAD_DAYS),
    drop the days past PREDICTION_LOG_RETENTION_DAYS; returns what it did."""
    report = maintain(
        now=datetime.now(UTC),
        ahead_days=settings.PREDICTION_LOG_PARTITIONS_AHEAD_DAYS,
        retention_days=settings.PREDICTION_LOG_RETENTION_DAYS,
        table=PREDICTION_LOG_PARTITIONS,
    )
    return report.as_dict()


@shared_task(name="reports.summarize_prediction_accuracy")
def summarize_prediction_accuracy() -> dict[str, int]:
    """Keep the accuracy tallies of the service days that are over (a re-run replaces)."""
    return accuracy_summarize_due_days()
