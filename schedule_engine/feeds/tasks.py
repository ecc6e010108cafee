"""Build and publish both GTFS-RT feeds: the Celery task beat runs, and the service it calls.

``feeds_publish`` reads the fleet's hot state once (``hot_state``), builds
VehiclePositions and TripUpdates with the pure builders (``builders``), each with
a header timestamp not below the stored feed's, stores the bytes (``store``) and
tells live WebSocket clients (``realtime_engine.ws.fanout``). ``feeds_build`` is
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

from databus.redis import get_redis
from realtime_engine.ws.fanout import publish_feed_status
from schedule_engine.feeds.builders import build_trip_updates, build_vehicle_positions
from schedule_engine.feeds.hot_state import FeedInputs, feed_inputs_assemble, hot_state_read
from schedule_engine.feeds.store import (
    FeedName,
    FeedSummary,
    StoredFeed,
    feed_save,
    feed_summaries_get,
    payload_etag,
)

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
        hot_state_read(client, now=now),
        now=int(now),
        vehicle_max_age_s=settings.FEED_VEHICLE_MAX_AGE_S,
    )
    read_s = time.perf_counter() - started
    published: dict[FeedName, FeedSummary] = {}
    for name, recipe in RECIPES.items():
        build_started = time.perf_counter()
        before = previous[name]
        message = recipe.build(
            recipe.entities(inputs),
            now=int(now),
            previous_timestamp=None if before is None else before.header_timestamp,
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
        publish_feed_status(name.value, summary.header_timestamp, entities=summary.entity_count)
    return published


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
