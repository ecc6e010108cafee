"""Build and publish both GTFS-RT feeds: the Celery task beat runs, and the service it calls.

``feeds_publish`` reads the fleet's hot state once (``schedule_engine.hot_state_read``),
decides what it publishes (``feed_inputs``), keeps what agrees
with the current GTFS version (``schedule_agreement``, counting what it leaves out in
``databus_feed_entities_skipped_total``), builds
VehiclePositions and TripUpdates with the pure builders (``builders``), each with
a header timestamp not below the stored feed's, stores the bytes (``store``) and
tells live WebSocket clients through ``databus.notify``. ``feeds_build`` is
the task ``databus.beat`` schedules every ``FEED_BUILD_INTERVAL_S``.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

import redis
from celery import shared_task
from django.conf import settings
from google.transit import gtfs_realtime_pb2

from databus import notify
from databus.redis import get_redis
from schedule_engine.feeds.builders import build_trip_updates, build_vehicle_positions
from schedule_engine.feeds.feed_inputs import FeedInputs, feed_inputs_assemble
from schedule_engine.feeds.metrics import FEED_ENTITIES_SKIPPED
from schedule_engine.feeds.schedule_agreement import feed_inputs_agree
from schedule_engine.feeds.schedule_ids import current_schedule_ids
from schedule_engine.feeds.skips import entity_skip_record
from schedule_engine.feeds.store import (
    FeedName,
    FeedSummary,
    StoredFeed,
    feed_save,
    feed_summaries_get,
    payload_etag,
)
from schedule_engine.hot_state_read import fleet_read

logger = logging.getLogger(__name__)

TASK_NAME = "schedule_engine.feeds.build"


@dataclass(frozen=True, slots=True)
class FeedRecipe:
    """Which entities a feed is built from and which builder builds it."""

    entities: Callable[[FeedInputs], Iterable[object]]
    build: Callable[..., gtfs_realtime_pb2.FeedMessage]


RECIPES: dict[FeedName, FeedRecipe] = {
    FeedName.VEHICLE_POSITIONS: FeedRecipe(lambda i: i.vehicles, build_vehicle_positions),
    FeedName.TRIP_UPDATES: FeedRecipe(lambda i: i.trips, build_trip_updates),
}


@contextlib.contextmanager
def cyclic_gc_paused() -> Iterator[None]:
    """A build allocates a few hundred thousand acyclic objects (hashes, snapshots,
    protobuf messages); the cyclic collector's passes over them cost about 40 % of the
    assembly time and free nothing. Reference counting still frees everything."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def feeds_publish(client: redis.Redis, *, now: float | None = None) -> dict[FeedName, FeedSummary]:
    """Build both feeds from the current hot state and store them; their summaries."""
    with cyclic_gc_paused():
        return _publish(client, time.time() if now is None else now)


def _publish(client: redis.Redis, now: float) -> dict[FeedName, FeedSummary]:
    started = time.perf_counter()
    previous = feed_summaries_get(client)
    inputs = feed_inputs_assemble(
        fleet_read(client, now=now),
        now=int(now),
        vehicle_max_age_s=settings.FEED_VEHICLE_MAX_AGE_S,
        stop_time_update_max_age_s=settings.FEED_STOP_TIME_UPDATE_MAX_AGE_S,
        on_skip=entity_skip_record,
    )
    inputs = _agreeing_with_schedule(inputs, now)
    read_s = time.perf_counter() - started
    published: dict[FeedName, FeedSummary] = {}
    for name, recipe in RECIPES.items():
        build_started = time.perf_counter()
        before = previous[name]
        message = recipe.build(
            recipe.entities(inputs),
            now=int(now),
            previous_timestamp=None if before is None else before.header_timestamp,
            on_skip=entity_skip_record,
        )
        payload = message.SerializeToString()
        summary = FeedSummary(
            name=name,
            header_timestamp=message.header.timestamp,
            etag=payload_etag(payload),
            entity_count=len(message.entity),
            built_at=time.time(),
            build_seconds=read_s + time.perf_counter() - build_started,
        )
        if not feed_save(client, StoredFeed(summary=summary, payload=payload)):
            # Another build stored a newer feed meanwhile; it stands.
            logger.info("feed %s not stored: a newer one is already published", name)
            continue
        published[name] = summary
        notify.feed_published(
            notify.FeedPublished(
                feed=name.value,
                header_timestamp=summary.header_timestamp,
                entities=summary.entity_count,
            )
        )
    return published


def _agreeing_with_schedule(inputs: FeedInputs, now: float) -> FeedInputs:
    """The entities that name only trips, routes and stops of the current GTFS version."""
    schedule = current_schedule_ids()
    if schedule is None:
        return inputs  # no version imported yet: nothing to check against (nor any run)
    agreeing, skipped = feed_inputs_agree(
        inputs, schedule, now=now, canceled_margin_s=settings.CANCELED_TRIP_PUBLISH_MARGIN_S
    )
    for (feed, reason), count in skipped.items():
        FEED_ENTITIES_SKIPPED.labels(feed=feed.value, reason=reason.value).inc(count)
    # Said when it changes, not every build: a stale run lingers for many builds.
    summary = ", ".join(f"{n} {feed}/{reason}" for (feed, reason), n in sorted(skipped.items()))
    if summary != _last_skipped.get(schedule.feed_id, ""):
        logger.info(
            "feeds: against GTFS version %d, left out: %s", schedule.feed_id, summary or "none"
        )
        _last_skipped.clear()
        _last_skipped[schedule.feed_id] = summary
    return agreeing


# The last build's summary of what was left out, by GTFS version (this process).
_last_skipped: dict[int, str] = {}


@shared_task(name=TASK_NAME, ignore_result=True)
def feeds_build() -> None:
    """Beat's entry point: publish both feeds now."""
    published = feeds_publish(get_redis())
    for summary in published.values():
        logger.info(
            "feed %s: %d entities, header %d, %.3f s",
            summary.name,
            summary.entity_count,
            summary.header_timestamp,
            summary.build_seconds,
        )
