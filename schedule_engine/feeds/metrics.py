"""Feed freshness as Prometheus metrics, and the freshness judgement `/readyz` warns on.

Both read the stored feed summaries (``store.feed_summaries_get``, one Redis round
trip, no payloads) at the moment they are asked, so the age is exact at scrape
time and no process has to keep a gauge up to date. The collector is registered
on ``databus.metrics.REGISTRY`` when this module is imported (`/readyz`'s probes
list imports it); ``backend.health.probes.probe_feed_age`` reports ``freshness_report``.
Nothing here imports ``backend``: the project sits above the apps.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import redis
from django.conf import settings
from prometheus_client import Counter
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from databus.metrics import REGISTRY
from databus.redis import get_redis
from schedule_engine.feeds.store import FeedName, FeedSummary, feed_summaries_get

# A feed is stale once it is older than this many build intervals (readiness fails past it:
# ``backend.health.probes.probe_feed_age``, docs/api.md).
STALE_AFTER_BUILD_INTERVALS = 3

# What a build left out of a feed, by reason (e.g. ``unknown_trip``: an entity naming a
# trip the current GTFS version lacks). Counted by the process that builds the feeds (the
# beat worker: its WORKER_METRICS_PORT exports it).
FEED_ENTITIES_SKIPPED = Counter(
    "databus_feed_entities_skipped",
    "Entities (or their trip or stop parts) left out of a GTFS-RT feed, by reason.",
    ["feed", "reason"],
    registry=REGISTRY,
)


def feed_age_s(summary: FeedSummary, now: float) -> float:
    """Seconds since the feed's header timestamp (never negative)."""
    return max(0.0, now - summary.header_timestamp)


def stale_after_s() -> float:
    return STALE_AFTER_BUILD_INTERVALS * settings.FEED_BUILD_INTERVAL_S


def freshness_report(
    summaries: dict[FeedName, FeedSummary | None], now: float
) -> tuple[list[str], list[str]]:
    """(stale feeds, feeds never built), each as a sentence per feed. Pure.

    Only a stale feed is a problem: before the first build (a fresh install, a test
    database) there is nothing to be late with, and `/readyz` stays "ok".
    """
    limit = stale_after_s()
    stale, missing = [], []
    for name, summary in summaries.items():
        if summary is None:
            missing.append(f"{name} not built yet")
        elif (age := feed_age_s(summary, now)) > limit:
            stale.append(f"{name} is {age:.0f} s old (stale after {limit:.0f} s)")
    return stale, missing


class FeedCollector(Collector):
    """Per-feed age, entity count and last build duration, read from Redis at scrape time."""

    def describe(self) -> Iterator[GaugeMetricFamily]:
        # Declared without samples so that registering never touches Redis.
        yield from _families()

    def collect(self) -> Iterator[GaugeMetricFamily]:
        age, entities, build = _families()
        try:
            summaries = feed_summaries_get(get_redis())
        except redis.RedisError:
            # Redis down is reported by /readyz; the rest of /metrics must still answer.
            return
        now = time.time()
        for name, summary in summaries.items():
            if summary is None:
                continue
            age.add_metric([name.value], feed_age_s(summary, now))
            entities.add_metric([name.value], summary.entity_count)
            build.add_metric([name.value], summary.build_seconds)
        yield from (age, entities, build)


def _families() -> tuple[GaugeMetricFamily, GaugeMetricFamily, GaugeMetricFamily]:
    return (
        GaugeMetricFamily(
            "databus_feed_age_seconds",
            "Seconds since the stored GTFS-RT feed's header timestamp.",
            labels=["feed"],
        ),
        GaugeMetricFamily(
            "databus_feed_entities", "Entities in the stored GTFS-RT feed.", labels=["feed"]
        ),
        GaugeMetricFamily(
            "databus_feed_build_seconds",
            "Duration of the stored feed's build (hot-state read, build, serialise).",
            labels=["feed"],
        ),
    )


# Registered once, when this module is first imported (by backend.health.probes).
REGISTRY.register(FeedCollector())
