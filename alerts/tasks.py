"""Celery tasks of the alerts app: thin interfaces, no rules.

``alerts_feed_build`` (``alerts.feed.build``) publishes the Alerts feed (``feed``): beat runs
it every ``FEED_BUILD_INTERVAL_S`` (``databus.beat``), and every alert change queues it on
commit (``services``). Registered when Django starts (``apps.AlertsConfig.ready``).
"""

from __future__ import annotations

import logging

from celery import shared_task

from alerts.feed import alerts_feed_publish
from databus.redis import get_redis

logger = logging.getLogger(__name__)

TASK_NAME = "alerts.feed.build"


@shared_task(name=TASK_NAME, ignore_result=True)
def alerts_feed_build() -> None:
    summary = alerts_feed_publish(get_redis())
    if summary is not None:
        logger.info(
            "feed alerts: %d entities, header %d, %.3f s",
            summary.entity_count,
            summary.header_timestamp,
            summary.build_seconds,
        )
