"""Feed freshness and what readers left out as Prometheus metrics, and the freshness judgement
`/readyz` warns on.

Both read the stored feed summaries (``store.feed_summaries_get``, one Redis round
trip, no payloads) at the moment they are asked, so the age is exact at scrape
time and no process has to keep a gauge up to date. What readers of the hot state left
out (``skips``) is counted in Redis too (``keys.FEED_SKIPPED_COUNTS``), by whichever
process read, and exported the same way. The collectors are registered
on ``databus.metrics.REGISTRY`` when this module is imported (`/readyz`'s probes
list imports it); ``backend.health.probes.probe_feed_age`` reports ``freshness_report``.
Nothing here imports ``backend``: the project sits above the apps.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Mapping

import redis
from django.conf import settings
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from databus import keys
from databus.metrics import REGISTRY
from databus.redis import get_redis
from schedule_engine.feeds.store import FeedName, FeedSummary, feed_summaries_get

# A feed is stale once it is older than this many build intervals (readiness fails past it:
# ``backend.health.probes.probe_feed_age``, docs/api.md).
STALE_AFTER_BUILD_INTERVALS = 3

logger = logging.getLogger(__name__)

_SKIPPED_SEP = "|"  # keys.FEED_SKIPPED_COUNTS fields: "<feed>|<reason>"


def skipped_counts_add(client: redis.Redis, counts: Mapping[tuple[str, str], int]) -> None:
    """Add ``counts`` (by feed and reason) to the count every process exports, in one round
    trip. A Redis failure is logged and the counts dropped: counting must never fail the
    read that skipped.

    Held in Redis, not in a Prometheus counter of this process: the feed build runs in a
    worker's pool child, whose own counters no exporter ever serves."""
    if not counts:
        return
    pipe = client.pipeline(transaction=False)
    for (feed, reason), count in counts.items():
        pipe.hincrby(keys.FEED_SKIPPED_COUNTS, f"{feed}{_SKIPPED_SEP}{reason}", count)
    try:
        pipe.execute()
    except redis.RedisError as error:
        logger.warning("skipped-entity counts not written: %s", error)


def skipped_family(fields: Mapping[str, str]) -> CounterMetricFamily:
    """``databus_feed_entities_skipped_total{feed,reason}`` from the stored counts (a field
    this module did not write is left out). Pure."""
    family = _skipped_family()
    for name, value in sorted(fields.items()):
        feed, sep, reason = name.partition(_SKIPPED_SEP)
        try:
            count = float(value)
        except ValueError:
            continue
        if sep and feed and reason:
            family.add_metric([feed, reason], count)
    return family


def _skipped_family() -> CounterMetricFamily:
    return CounterMetricFamily(
        "databus_feed_entities_skipped",
        "Entities (or their trip or stop parts) left out of a GTFS-RT feed or a reader's "
        "view, by reason; counted across every process.",
        labels=["feed", "reason"],
    )


class SkippedCollector(Collector):
    """What every reader of the hot state left out, read from Redis at scrape time. The
    same count on every target (web and workers): aggregate it with ``max``, not ``sum``."""

    def describe(self) -> Iterator[CounterMetricFamily]:
        yield _skipped_family()

    def collect(self) -> Iterator[CounterMetricFamily]:
        try:
            fields = get_redis().hgetall(keys.FEED_SKIPPED_COUNTS)
        except redis.RedisError:
            return
        yield skipped_family(fields)


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
REGISTRY.register(SkippedCollector())
