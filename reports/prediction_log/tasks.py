"""Celery tasks of the prediction log: thin interfaces to ``sample`` and ``storage``.

Registered through ``reports.tasks`` (which imports this module), scheduled by
``databus.beat``: a sample every ``PREDICTION_LOG_INTERVAL_S``, pruning every
``PREDICTION_LOG_PRUNE_INTERVAL_S``, the past days' accuracy summaries every
``REPORTS_SUMMARY_INTERVAL_S`` (with the other daily summaries).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from celery import shared_task
from django.conf import settings
from google.protobuf.message import DecodeError

from databus.redis import get_redis
from reports.prediction_log.daily import accuracy_summarize_due_days
from reports.prediction_log.sample import sample_of
from reports.prediction_log.storage import prune, sample_store
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


@shared_task(name="reports.prune_prediction_log")
def prune_prediction_log() -> int:
    """Delete the prediction log's days past PREDICTION_LOG_RETENTION_DAYS; rows deleted."""
    return prune(now=datetime.now(UTC), retention_days=settings.PREDICTION_LOG_RETENTION_DAYS)


@shared_task(name="reports.summarize_prediction_accuracy")
def summarize_prediction_accuracy() -> dict[str, int]:
    """Keep the accuracy tallies of the service days that are over (a re-run replaces)."""
    return accuracy_summarize_due_days()
