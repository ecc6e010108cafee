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
both kinds of build publish the same bytes for the same hot state. A full build of a
large fleet (``SHARDED_MIN_ENTITIES``) is read, decided and encoded in
``FEED_BUILD_PROCESSES`` forked processes, each its own part of the fleet
(``sharded_decision``); a shard that fails leaves the build to this process.

Every build also publishes the dispatchers' trip operations (``operations``: the whole
``keys.TRIP_OPERATIONS`` hash, read with the marks) and re-decides the runs of the trips
whose operations changed since the last build (their digests are kept in the caches'
meta); and, after the schedule agreement, the next trip of each decided run's block
(``block_trips``, with ``schedule_engine.blocks``). The settings say which vehicle
descriptor fields are public and whether an added trip is NEW or ADDED.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import time
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import replace

import redis
from celery import shared_task
from django.conf import settings

from databus import keys, notify
from databus.redis import get_redis
from schedule_engine import blocks
from schedule_engine.feeds.block_trips import candidates, next_trip_entities
from schedule_engine.feeds.builders import SkipHandler
from schedule_engine.feeds.changes import (
    Marks,
    changed_operation_trips,
    changed_records_read,
    full_rebuild_reason,
    marks_take,
)
from schedule_engine.feeds.descriptors import DescriptorPolicy
from schedule_engine.feeds.entity_cache import (
    Bounds,
    CacheMeta,
    cache_read,
    cache_stage,
    cache_write,
    trip_key,
)
from schedule_engine.feeds.feed_inputs import (
    PROJECTION_FIELDS,
    FeedInputs,
    feed_inputs_assemble,
    vehicle_entity_refreshed,
)
from schedule_engine.feeds.forking import ShardFailed, forked_map
from schedule_engine.feeds.layout import Decided, Payload, Skips, layout
from schedule_engine.feeds.layout import Settings as LayoutSettings
from schedule_engine.feeds.mirror import mirror_get, mirror_set
from schedule_engine.feeds.operations import (
    Operations,
    OperationsContext,
    context_ids,
    operations_decide,
    operations_published,
)
from schedule_engine.feeds.schedule_agreement import ScheduleIds, Skipped, feed_inputs_agree
from schedule_engine.feeds.schedule_ids import current_schedule_ids
from schedule_engine.feeds.sharded_decision import (
    BuildContext,
    ShardDecision,
    decision_packed,
    decision_unpacked,
    decisions_merged,
    shard_decided,
    shard_of,
    shard_part,
)
from schedule_engine.feeds.skips import SkipTally
from schedule_engine.feeds.snapshots import TripRelationship
from schedule_engine.feeds.store import (
    HOT_STATE_FEEDS,
    FeedName,
    FeedSummary,
    StoredFeed,
    feed_save,
    feed_summaries_get,
    payload_etag,
)
from schedule_engine.hot_state_read import (
    FleetHotState,
    FleetOutline,
    fleet_outline_read,
    fleet_part_read,
    fleet_read,
    records_read,
    run_sets_read,
    trip_claims_read,
)

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
    tally = SkipTally()
    try:
        with cyclic_gc_paused():
            return _publish(client, time.time() if now is None else now, tally)
    finally:
        tally.flush(client)
        client.eval(_RELEASE_IF_OURS, 1, keys.FEED_BUILD_LOCK, token)


# A build takes about a second of CPU per 5,000 runs when everything changed (tens of
# seconds for 50,000 on a loaded machine); a worker that died holding the lock delays the
# next builds by at most this, and loses nothing (``changes.marks_take``).
BUILD_LOCK_TTL_S = 120
_RELEASE_IF_OURS = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


def _publish(client: redis.Redis, now: float, tally: SkipTally) -> dict[FeedName, FeedSummary]:
    started = time.perf_counter()
    previous = feed_summaries_get(client)
    marks = marks_take(client, now=now)
    schedule = current_schedule_ids()
    schedule_id = "" if schedule is None else str(schedule.feed_id)
    reason = full_rebuild_reason(
        marks,
        schedule=schedule_id,
        now=now,
        interval_s=settings.FEED_FULL_REBUILD_INTERVAL_S,
    )
    skips = Skips(tally)
    descriptors = DescriptorPolicy(
        label=settings.FEED_PUBLISH_VEHICLE_LABEL,
        license_plate=settings.FEED_PUBLISH_LICENSE_PLATE,
    )
    operations = operations_for_build(
        client, marks.operations, now=now, descriptors=descriptors, on_skip=skips.record
    )
    sharded: ShardDecision | None = None
    staged: dict[FeedName, str] = {}
    if reason is None:
        marks = replace(
            marks, runs=marks.runs | _runs_of_changed_operations(client, marks, operations)
        )
        mirror = mirror_get(marks.meta.generation)
        cached = cache_read(client) if mirror is None else mirror.entities
        known = {} if mirror is None else mirror.vehicles
        changed = changed_records_read(
            client,
            marks,
            published_vehicles=cached[FeedName.VEHICLE_POSITIONS].keys(),
            claims={vid: vehicle.claim for vid, vehicle in known.items()},
        )
        hot, vehicles, runs = changed.hot, changed.vehicles, changed.runs
        telemetry_only = changed.refreshed
    else:
        # The interval's rebuild is routine; the others say something happened.
        log = logger.debug if reason in ("interval", "most runs changed") else logger.info
        log("feeds: full rebuild (%s)", reason)
        cached, known = {name: {} for name in HOT_STATE_FEEDS}, {}
        vehicles, runs = None, None
        telemetry_only = ()
        sharded, outline, staged = _decided_in_shards(
            client,
            now=int(now),
            operations=operations,
            descriptors=descriptors,
            schedule=schedule,
            processes=settings.FEED_BUILD_PROCESSES,
        )
        if sharded is None:
            hot = fleet_read(client, now=now, projection_fields=PROJECTION_FIELDS, outline=outline)
        else:
            # What is left to decide here needs of the hot state only the cancellations.
            hot = FleetHotState(canceled_until=outline.canceled_until)
    claims = {state.vehicle_id: state.current_run for state in hot.vehicles}
    if sharded is not None:
        for skip in sharded.skips:
            skips.report(skip)
        skips.vehicles |= sharded.again_vehicles
        skips.runs |= sharded.again_runs
        _agreement_noted(sharded.agreement, schedule, tally, log=True)
        # The shards encoded every vehicle and run: left to do here are the block's next
        # trips (from each run's summary) and the operations' entities.
        leading = FeedInputs(vehicles=(), trips=sharded.leading, operations=sharded.operations)
        inputs = replace(
            _with_next_trips(client, leading, schedule, operations, now, runs), trips=()
        )
        published_trips = sharded.published_trips
    else:
        inputs = feed_inputs_assemble(
            hot,
            now=int(now),
            vehicle_max_age_s=settings.FEED_VEHICLE_MAX_AGE_S,
            stop_time_update_max_age_s=settings.FEED_STOP_TIME_UPDATE_MAX_AGE_S,
            on_skip=skips.record,
            operations=operations,
            descriptors=descriptors,
        )
        inputs = _agreeing_with_schedule(inputs, schedule, now, tally, log=reason is not None)
        inputs = _with_next_trips(client, inputs, schedule, operations, now, runs)
        published_trips = frozenset(
            trip_key(entity.trip.trip_id, entity.trip.start_date) for entity in inputs.trips
        )
    refreshed = [
        (
            state.vehicle_id,
            vehicle_entity_refreshed(
                known[state.vehicle_id].entity,
                state,
                now=int(now),
                vehicle_max_age_s=settings.FEED_VEHICLE_MAX_AGE_S,
                on_skip=skips.record,
            ),
        )
        for state in telemetry_only
    ]
    decided = Decided(
        inputs,
        vehicles,
        runs,
        claims=claims,
        canceled_until=hot.canceled_until,
        refreshed=refreshed,
        skips=skips,
        superseded=published_trips
        | frozenset(trip_key(trip_id, start_date) for trip_id, start_date in operations.cancelled),
    )
    generation = uuid.uuid4().hex
    laid_out = layout(
        decided,
        cached,
        known,
        schedule=schedule,
        now=int(now),
        previous_headers={
            name: None if summary is None else summary.header_timestamp
            for name, summary in previous.items()
        },
        generation=generation,
        settings=LayoutSettings(
            Bounds(settings.FEED_VEHICLE_MAX_AGE_S, settings.FEED_STOP_TIME_UPDATE_MAX_AGE_S),
            settings.CANCELED_TRIP_PUBLISH_MARGIN_S,
        ),
        encoded=None if sharded is None else sharded.encoded,
    )
    changes = replace(laid_out.changes, operations=operations.digests)
    if staged:
        # The shards wrote their own entities already: what is left is this process's.
        changes = replace(
            changes,
            written={
                name: {
                    eid: entity
                    for eid, entity in entities.items()
                    if eid not in sharded.encoded.written[name]
                }
                for name, entities in changes.written.items()
            },
            staged=staged,
        )
    if reason is not None:
        changes = replace(
            changes,
            replace=True,
            meta=CacheMeta(epoch=marks.epoch, schedule=schedule_id, full_at=now),
        )
    cache_write(client, changes)
    mirror_set(generation, laid_out.entities, laid_out.vehicles)
    return _store(client, laid_out.payloads, time.perf_counter() - started)


def operations_for_build(
    client: redis.Redis,
    records: Mapping[str, str],
    *,
    now: float,
    descriptors: DescriptorPolicy,
    on_skip: SkipHandler | None = None,
) -> Operations:
    """What the ``keys.TRIP_OPERATIONS`` ``records`` published at ``now`` add, decided with
    the claims of the trips they name (and the metadata of added trips' vehicles): a few
    round trips when there are any."""
    published = operations_published(records, now=now, on_skip=on_skip)
    trip_ids, vehicle_ids = context_ids(published)
    context = OperationsContext()
    if trip_ids or vehicle_ids:
        claims = trip_claims_read(client, trip_ids)
        run_ids = sorted({rid for rid in claims.values() if rid})
        records = records_read(
            client,
            vehicle_ids=vehicle_ids,
            context_run_ids=run_ids,
            projection_fields=PROJECTION_FIELDS,
        )
        context = OperationsContext(
            claims=claims,
            runs=records.runs,
            in_progress=run_sets_read(client, run_ids).in_progress,
            vehicles={state.vehicle_id: state.metadata for state in records.vehicles},
        )
    added = TripRelationship.ADDED if settings.FEED_ADDED_TRIPS_AS_ADDED else TripRelationship.NEW
    return operations_decide(published, context, added_relationship=added, descriptors=descriptors)


def _runs_of_changed_operations(
    client: redis.Redis, marks: Marks, operations: Operations
) -> frozenset[str]:
    """The runs claiming a trip whose published operations changed since the last build
    (all the trips named, then or now, when the last build's are unknown)."""
    before = None if marks.meta is None else marks.meta.operations
    changed = changed_operation_trips(before, operations.digests)
    if changed is None:
        changed = frozenset(operations.digests)
    claims = trip_claims_read(client, sorted(changed))
    return frozenset(rid for rid in claims.values() if rid)


def _with_next_trips(
    client: redis.Redis,
    inputs: FeedInputs,
    schedule: ScheduleIds | None,
    operations: Operations,
    now: float,
    runs: frozenset[str] | None,
) -> FeedInputs:
    """``inputs`` with the next trips of the decided runs' blocks (``block_trips``)."""
    if schedule is None:
        return inputs
    leading = [entity for entity in inputs.trips if runs is None or entity.run_id in runs]
    wanted = candidates(leading)
    if not wanted:
        return inputs
    following = blocks.next_trips_in_block(wanted, feed_id=schedule.feed_id)
    if not following:
        return inputs
    claims = trip_claims_read(client, sorted({trip.trip_id for trip in following.values()}))
    entities = next_trip_entities(
        leading,
        following,
        claimed={trip_id for trip_id, rid in claims.items() if rid},
        operations=operations,
        timezone=schedule.timezone,
        now=now,
    )
    return replace(inputs, next_trips=entities)


def _store(
    client: redis.Redis, payloads: Mapping[FeedName, Payload], build_s: float
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


# How long the entities a shard wrote are kept for its build's cache write (seconds after
# it): far beyond a build that still holds its lock (``BUILD_LOCK_TTL_S``), so that the
# write never misses them; what a build that died left behind goes by itself.
STAGED_TTL_S = 3600

# A full build of fewer vehicles and runs than this is decided in one process: forking and
# sending the shards' entities back cost more than they save.
SHARDED_MIN_ENTITIES = 2000


def _decided_in_shards(
    client: redis.Redis,
    *,
    now: int,
    operations: Operations,
    descriptors: DescriptorPolicy,
    schedule: ScheduleIds | None,
    processes: int,
) -> tuple[ShardDecision | None, FleetOutline | None, dict[FeedName, str]]:
    """A full build's entities read, decided and encoded in ``processes`` processes
    (``sharded_decision``), the fleet's outline they were split by, and per feed the hash
    the processes wrote their entities into (``entity_cache.cache_stage``). No decision
    when the build is to be read and decided here instead: one process configured (nor an
    outline then), a small fleet, or a shard that failed (logged); the outline read then
    serves that read."""
    if processes < 2:
        return None, None, {}
    outline = fleet_outline_read(client, now=now)
    if len(outline.vehicle_ids) + len(outline.run_ids) < SHARDED_MIN_ENTITIES:
        return None, outline, {}
    build = uuid.uuid4().hex
    staged = {name: keys.feed_entities_staged(name, build) for name in HOT_STATE_FEEDS}
    context = BuildContext(
        outline,
        now=now,
        vehicle_max_age_s=settings.FEED_VEHICLE_MAX_AGE_S,
        stop_time_update_max_age_s=settings.FEED_STOP_TIME_UPDATE_MAX_AGE_S,
        canceled_margin_s=settings.CANCELED_TRIP_PUBLISH_MARGIN_S,
        operations=operations,
        descriptors=descriptors,
        schedule=schedule,
    )

    def decided(index: int) -> ShardDecision:
        # In a child, ``client`` opens a connection of its own (redis-py's pools notice
        # the fork): the parent's sockets are left alone.
        shard = shard_of(context, index, processes)
        part = shard_part(outline, shard)
        hot = fleet_part_read(
            client,
            outline,
            vehicle_ids=part.vehicle_ids,
            run_ids=part.run_ids,
            context_run_ids=part.context_run_ids,
            projection_fields=PROJECTION_FIELDS,
        )
        decision = shard_decided(context, shard, hot)
        cache_stage(client, staged, decision.encoded.written, ttl_s=STAGED_TTL_S)
        return decision

    try:
        decisions = forked_map(
            decided, processes, packed=decision_packed, unpacked=decision_unpacked
        )
    except ShardFailed as error:
        logger.error("feeds: a shard of the build failed; deciding in one process: %s", error)
        client.delete(*staged.values())
        return None, outline, {}
    merged = decisions_merged(decisions)
    return merged, outline, {name: staged[name] for name in staged if merged.encoded.written[name]}


def _agreeing_with_schedule(
    inputs: FeedInputs, schedule: ScheduleIds | None, now: float, tally: SkipTally, *, log: bool
) -> FeedInputs:
    """The entities that name only trips, routes and stops of the current GTFS version.
    ``log``: a full build's inputs, whose summary of what was left out is logged when it
    changes (an incremental build sees only what changed)."""
    if schedule is None:
        return inputs  # no version imported yet: nothing to check against (nor any run)
    agreeing, skipped = feed_inputs_agree(
        inputs, schedule, now=now, canceled_margin_s=settings.CANCELED_TRIP_PUBLISH_MARGIN_S
    )
    _agreement_noted(skipped, schedule, tally, log=log)
    return agreeing


def _agreement_noted(
    skipped: Skipped, schedule: ScheduleIds | None, tally: SkipTally, *, log: bool
) -> None:
    """Count what the schedule agreement left out; ``log``: also say it, when it changed."""
    for (feed, reason), count in skipped.items():
        tally.add(feed.value, reason.value, count)
    if not log or schedule is None:
        return
    # Said when it changes, not every build: a stale run lingers for many builds.
    summary = ", ".join(f"{n} {feed}/{reason}" for (feed, reason), n in sorted(skipped.items()))
    if summary != _last_skipped.get(schedule.feed_id, ""):
        logger.info(
            "feeds: against GTFS version %d, left out: %s", schedule.feed_id, summary or "none"
        )
        _last_skipped.clear()
        _last_skipped[schedule.feed_id] = summary


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
