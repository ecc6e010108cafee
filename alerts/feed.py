"""Build and publish the GTFS-RT Alerts feed: read the alerts, build, store, notify.

``alerts_feed_publish`` reads every published alert (active or upcoming: riders are told
ahead) from PostgreSQL (``selectors.alerts_published``), builds the feed with the pure
builder (``feed_builder``), stores it as ``feed:alerts`` exactly as the hot-state feeds are
stored (``schedule_engine.feeds.store.feed_save``: the header timestamp never goes back)
and tells live clients through ``databus.notify.feed_published``, and, through
``databus.notify.alert_changed``, of each alert whose period began or ended since the last
stored build (``selectors.alert_summaries_crossing``: nobody edited it, so nothing else
tells them). The feed endpoint
(``/gtfs-rt/alerts.pb``) serves what is stored, with the other feeds' formats and
validators.

One build at a time: a PostgreSQL advisory lock held from the read to the store, so a build
that read before a change was committed cannot store after the build the change queued
(both in the same second would carry the same header timestamp, and the older could win).
Called by the Celery task (``tasks``), which beat runs every ``FEED_BUILD_INTERVAL_S`` and
every alert change queues on commit.
"""

from __future__ import annotations

import datetime as dt
import logging
import time

import redis
from django.db import connection, transaction

from alerts.feed_builder import build_alerts
from alerts.selectors import alert_summaries_crossing, alerts_published
from databus import notify
from schedule_engine.feeds.store import (
    FeedName,
    FeedSummary,
    StoredFeed,
    feed_header_timestamp_get,
    feed_save,
    payload_etag,
)

logger = logging.getLogger(__name__)

# pg_advisory_xact_lock key of the Alerts build ("ALRT" as a 32-bit integer).
BUILD_LOCK_KEY = 0x414C5254


def alerts_feed_publish(client: redis.Redis, *, now: float | None = None) -> FeedSummary | None:
    """Build and store the Alerts feed; its summary (None: a newer feed is already stored)."""
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [BUILD_LOCK_KEY])
        started = time.perf_counter()
        moment = time.time() if now is None else now
        at = dt.datetime.fromtimestamp(moment, dt.UTC)
        alerts = alerts_published(now=at)
        previous = feed_header_timestamp_get(client, FeedName.ALERTS)

        def skipped(alert_id: int, why: str) -> None:
            logger.warning("alerts feed: alert %d left out (%s)", alert_id, why)

        message = build_alerts(
            alerts,
            now=int(moment),
            previous=previous,
            on_skip=skipped,
        )
        payload = message.SerializeToString()
        summary = FeedSummary(
            name=FeedName.ALERTS,
            header_timestamp=message.header.timestamp,
            etag=payload_etag(payload),
            entity_count=len(message.entity),
            built_at=time.time(),
            build_seconds=time.perf_counter() - started,
        )
        if not feed_save(client, StoredFeed(summary=summary, payload=payload)):
            logger.info("feed alerts not stored: a newer one is already published")
            return None
        # Since the last stored build (none: nothing to compare with), under the lock, so
        # that each crossing is told once.
        crossing = (
            []
            if previous is None
            else alert_summaries_crossing(
                since=dt.datetime.fromtimestamp(previous, dt.UTC),
                now=dt.datetime.fromtimestamp(summary.header_timestamp, dt.UTC),
            )
        )
    for change in crossing:
        notify.alert_changed(change)
    notify.feed_published(
        notify.FeedPublished(
            feed=FeedName.ALERTS.value,
            header_timestamp=summary.header_timestamp,
            entities=summary.entity_count,
        )
    )
    return summary
