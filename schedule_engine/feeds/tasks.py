"""Build and publish both GTFS-RT feeds: the Celery task beat runs, and the service it calls.

``feeds_publish`` builds both feeds, each with a header timestamp not below the stored
feed's, stores the bytes (``store``) and tells live WebSocket clients through
``databus.notify``. ``feeds_build`` is the task ``databus.beat`` schedules every
``FEED_BUILD_INTERVAL_S``. One build at a time (``keys.FEED_BUILD_LOCK``).

A build's cost follows what changed. It takes the writers' marks (``changes``), reads
only the vehicles and runs they reach (``schedule_engine.hot_state_read.records_read``),
decides what of them is published (``feed_inputs``), keeps what agrees with the current
GTFS version (``schedule_agreement``, counting what it leaves out in
``databus_feed_entities_skipped_total``), encodes those entities one by one with the
pure builders (``builders``) into the entity caches (``entity_cache``), and lays out each
payload as a fresh header followed by every cached entity still due at ``now``, by id.
A full build (``changes.full_rebuild_reason``: no cache, hot state rebuilt, another GTFS
version, or ``FEED_FULL_REBUILD_INTERVAL_S`` since the last) reads the whole hot state
(``fleet_read``) and replaces the caches; it lays out its payloads the same way, so
both kinds of build publish the same bytes for the same hot state.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import math
import time
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace

import redis
from celery import shared_task
from django.conf import settings

from databus import keys, notify
from databus.redis import get_redis
from schedule_engine.feeds.builders import (
    TRIP_UPDATES_FEED,
    feed_payload,
    header_timestamp,
    trip_update_record,
    vehicle_position_record,
)
from schedule_engine.feeds.changes import (
    changed_records_read,
    full_rebuild_reason,
    marks_take,
    skip_owner,
)
from schedule_engine.feeds.entity_cache import (
    Bounds,
    CacheChanges,
    CachedEntity,
    CacheMeta,
    Kind,
    cache_read,
    cache_write,
    is_due,
)
from schedule_engine.feeds.feed_inputs import (
    FeedInputs,
    feed_inputs_assemble,
    stale_stop_time_updates_report,
)
from schedule_engine.feeds.metrics import FEED_ENTITIES_SKIPPED
from schedule_engine.feeds.schedule_agreement import ScheduleIds, feed_inputs_agree
from schedule_engine.feeds.schedule_ids import current_schedule_ids
from schedule_engine.feeds.skips import RecordReader, entity_skip_record
from schedule_engine.feeds.snapshots import EntitySkip, TripEntity
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
    """Build both feeds from the current hot state and store them; their summaries (none
    when another build holds the build lock: it publishes)."""
    token = uuid.uuid4().hex
    if not client.set(keys.FEED_BUILD_LOCK, token, nx=True, ex=BUILD_LOCK_TTL_S):
        logger.info("feeds: another build is under way; this one is skipped")
        return {}
    try:
        with cyclic_gc_paused():
            return _publish(client, time.time() if now is None else now)
    finally:
        client.eval(_RELEASE_IF_OURS, 1, keys.FEED_BUILD_LOCK, token)


# A build takes well under a second per 5,000 runs; a worker that died holding the lock
# delays the next builds by at most this.
BUILD_LOCK_TTL_S = 60
_RELEASE_IF_OURS = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


@dataclass(frozen=True, slots=True)
class _Payload:
    payload: bytes  # a serialised FeedMessage
    entity_count: int
    header_timestamp: int


@dataclass(frozen=True, slots=True)
class _Decided:
    """The entities a build encoded, and which vehicles and runs it decided (None: all)."""

    inputs: FeedInputs
    vehicles: frozenset[str] | None
    runs: frozenset[str] | None
    canceled_until: Mapping[str, float]
    skips: _Skips


class _Skips:
    """Counts and logs each skipped record (``skips.entity_skip_record``) and remembers
    whose it was: that vehicle or run is decided again next build, so a record that stays
    bad is counted on every build, as a full build counts it."""

    def __init__(self) -> None:
        self.vehicles: set[str] = set()
        self.runs: set[str] = set()

    def record(self, skip: EntitySkip) -> None:
        entity_skip_record(skip)
        vehicle_id, run_id = skip_owner(skip)
        if vehicle_id is not None:
            self.vehicles.add(vehicle_id)
        if run_id is not None:
            self.runs.add(run_id)


def _publish(client: redis.Redis, now: float) -> dict[FeedName, FeedSummary]:
    started = time.perf_counter()
    previous = feed_summaries_get(client)
    marks = marks_take(client, now=now)
    skips = _Skips()
    schedule = current_schedule_ids()
    schedule_id = "" if schedule is None else str(schedule.feed_id)
    reason = full_rebuild_reason(
        marks.meta,
        epoch=marks.epoch,
        schedule=schedule_id,
        now=now,
        interval_s=settings.FEED_FULL_REBUILD_INTERVAL_S,
    )
    if reason is None:
        cached = cache_read(client)
        changed = changed_records_read(
            client, marks, published_vehicles=cached[FeedName.VEHICLE_POSITIONS].keys()
        )
        hot, vehicles, runs = changed.hot, changed.vehicles, changed.runs
    else:
        logger.debug("feeds: full rebuild (%s)", reason)
        cached = {name: {} for name in FeedName}
        hot, vehicles, runs = fleet_read(client, now=now), None, None
    inputs = feed_inputs_assemble(
        hot,
        now=int(now),
        vehicle_max_age_s=settings.FEED_VEHICLE_MAX_AGE_S,
        stop_time_update_max_age_s=settings.FEED_STOP_TIME_UPDATE_MAX_AGE_S,
        on_skip=skips.record,
    )
    inputs = _agreeing_with_schedule(inputs, schedule, now, log=reason is not None)
    decided = _Decided(inputs, vehicles, runs, hot.canceled_until, skips)
    changes, payloads = _cache_update(decided, cached, schedule, int(now), previous)
    if reason is not None:
        changes = replace(
            changes,
            replace=True,
            meta=CacheMeta(epoch=marks.epoch, schedule=schedule_id, full_at=now),
        )
    cache_write(client, changes)
    return _store(client, payloads, time.perf_counter() - started)


def _cache_update(
    decided: _Decided,
    cached: Mapping[FeedName, Mapping[str, str]],
    schedule: ScheduleIds | None,
    now: int,
    previous: Mapping[FeedName, FeedSummary | None],
) -> tuple[CacheChanges, dict[FeedName, _Payload]]:
    """Encode the decided entities, merge them into the cached ones, and lay out both
    payloads (header, then every due entity by id); what the cache write must change."""
    written, again_vehicles, again_runs = _encoded(decided, schedule, now)
    removed: dict[FeedName, set[str]] = {}
    for name, ids in (
        (FeedName.VEHICLE_POSITIONS, decided.vehicles),
        (FeedName.TRIP_UPDATES, decided.runs),
    ):
        removed[name] = set() if ids is None else set(ids) - written[name].keys()
    bounds = Bounds(settings.FEED_VEHICLE_MAX_AGE_S, settings.FEED_STOP_TIME_UPDATE_MAX_AGE_S)
    stale = RecordReader(TRIP_UPDATES_FEED, entity_skip_record)
    payloads: dict[FeedName, _Payload] = {}
    for name in FeedName:
        fresh, stored, gone = written[name], cached[name], removed[name]
        records: list[bytes] = []
        for eid in sorted((stored.keys() - gone) | fresh.keys()):
            entity = fresh.get(eid) or CachedEntity.from_text(stored[eid])
            if entity is None:  # not written by this version: decided again next build
                gone.add(eid)
                (again_runs if name is FeedName.TRIP_UPDATES else again_vehicles).add(eid)
            elif is_due(entity, now, bounds):
                records.append(entity.record)
            elif entity.kind is Kind.TRIP:
                # Kept while its run is in progress: fresh predictions replace it.
                stale_stop_time_updates_report(
                    stale, eid, entity.number, now, bounds.stop_time_update_max_age_s
                )
            else:
                gone.add(eid)
        before = previous[name]
        header_before = None if before is None else before.header_timestamp
        payloads[name] = _Payload(
            feed_payload(now, header_before, records),
            len(records),
            header_timestamp(now, header_before),
        )
    changes = CacheChanges(
        written=written,
        removed=removed,
        dirty_vehicles=again_vehicles,
        dirty_runs=again_runs,
    )
    return changes, payloads


def _encoded(
    decided: _Decided, schedule: ScheduleIds | None, now: int
) -> tuple[dict[FeedName, dict[str, CachedEntity]], set[str], set[str]]:
    """The decided entities as cached records; the vehicles and runs to decide again next
    build: an entity whose timestamp was capped at ``now`` (a clock ahead, a cancellation
    without its time) is published with a later one by a later build."""
    vehicles: dict[str, CachedEntity] = {}
    trips: dict[str, CachedEntity] = {}
    again_vehicles, again_runs = decided.skips.vehicles, decided.skips.runs
    for item in decided.inputs.vehicles:
        vid = item.vehicle.vehicle_id
        if decided.vehicles is not None and vid not in decided.vehicles:
            continue
        record = vehicle_position_record(item, decided.skips.record)
        if record is not None:
            vehicles[vid] = CachedEntity(Kind.VEHICLE, item.position.timestamp, record)
        if item.position.timestamp >= now:
            again_vehicles.add(vid)
    margin = settings.CANCELED_TRIP_PUBLISH_MARGIN_S
    for item in decided.inputs.trips:
        rid = item.run_id
        if decided.runs is not None and rid not in decided.runs:
            continue  # a run read for its vehicle's sake, without its predictions
        record = trip_update_record(item, decided.skips.record)
        if record is not None:
            if item.trip.cancelled:
                until = _canceled_until(decided, item, schedule, margin)
                trips[rid] = CachedEntity(Kind.CANCELED, until, record)
            else:
                trips[rid] = CachedEntity(Kind.TRIP, item.timestamp, record)
        if item.timestamp >= now:
            again_runs.add(rid)
    written = {FeedName.VEHICLE_POSITIONS: vehicles, FeedName.TRIP_UPDATES: trips}
    return written, again_vehicles, again_runs


def _canceled_until(
    decided: _Decided, item: TripEntity, schedule: ScheduleIds | None, margin_s: float
) -> float:
    """When a CANCELED trip stops being published: its score in runs:canceled, or its
    scheduled end plus the margin if earlier (``schedule_agreement``)."""
    until = decided.canceled_until.get(item.run_id, math.inf)
    end = None if schedule is None else schedule.trip_end_at(item.trip)
    return until if end is None else min(until, end + margin_s)


def _store(
    client: redis.Redis, payloads: Mapping[FeedName, _Payload], build_s: float
) -> dict[FeedName, FeedSummary]:
    published: dict[FeedName, FeedSummary] = {}
    for name, built in payloads.items():
        summary = FeedSummary(
            name=name,
            header_timestamp=built.header_timestamp,
            etag=payload_etag(built.payload),
            entity_count=built.entity_count,
            built_at=time.time(),
            build_seconds=build_s,
        )
        if not feed_save(client, StoredFeed(summary=summary, payload=built.payload)):
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


def _agreeing_with_schedule(
    inputs: FeedInputs, schedule: ScheduleIds | None, now: float, *, log: bool
) -> FeedInputs:
    """The entities that name only trips, routes and stops of the current GTFS version.
    ``log``: a full build's inputs, whose summary of what was left out is logged when it
    changes (an incremental build sees only what changed)."""
    if schedule is None:
        return inputs  # no version imported yet: nothing to check against (nor any run)
    agreeing, skipped = feed_inputs_agree(
        inputs, schedule, now=now, canceled_margin_s=settings.CANCELED_TRIP_PUBLISH_MARGIN_S
    )
    for (feed, reason), count in skipped.items():
        FEED_ENTITIES_SKIPPED.labels(feed=feed.value, reason=reason.value).inc(count)
    if not log:
        return agreeing
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
