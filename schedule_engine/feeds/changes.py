"""What changed since the last feed build: the writers' marks, and the records they reach.

Every hot-state writer adds the vehicles and runs it wrote to ``keys.FEED_DIRTY_VEHICLES``
and ``keys.FEED_DIRTY_RUNS`` in the round trip it already makes (ingest's batch pipeline,
the matcher's compare-and-set, the lifecycle's MULTI/EXEC). A build takes both sets in
one MULTI/EXEC before it reads anything, so a write after the take is marked again for
the next build and a write before it is in what this build reads.

``changed_records_read`` reads what the marked entities need, following one dependency
in each direction until nothing new is reached (each step one pipeline through
``hot_state_read.records_read``, usually two steps):

- a marked run is re-decided (its trip update), and so is its vehicle (the vehicle
  position carries the run's trip, stop status and congestion);
- a marked vehicle is re-decided; its claimed run is read for context, without its
  predictions (the position needs the run's trip and status, not its stop time updates);
- a vehicle located but not yet published re-decides its run too: the trip update's
  vehicle descriptor names only located vehicles in full (``feed_inputs``);
- a marked vehicle this process published itself (``mirror``), still claimed by the same
  run and that run not marked, had only new telemetry (a fix, an occupancy): only its
  position and occupancy are read, and its published entity is refreshed with them.

``full_rebuild_reason`` (pure) says when the caches cannot be trusted and the build reads
the whole hot state instead. ``skip_owner`` (pure) says which vehicle or run a skipped
record belongs to: the build marks it again, so that a record that stays bad is counted
on every build, as a full build counts it.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field

import redis

from databus import keys
from runs.domain.projections import run as run_projection
from schedule_engine.feeds.builders import TRIP_UPDATES_FEED
from schedule_engine.feeds.entity_cache import CacheMeta, meta_from_redis
from schedule_engine.feeds.feed_inputs import PROJECTION_FIELDS
from schedule_engine.feeds.snapshots import EntitySkip, HotStateSkip
from schedule_engine.feeds.store import FeedName
from schedule_engine.hot_state_read import (
    FleetHotState,
    RunHotState,
    VehicleHotState,
    records_read,
    run_sets_read,
)


@dataclass(frozen=True, slots=True)
class Marks:
    """The marks one build took, and what the caches were built from."""

    vehicles: frozenset[str]
    runs: frozenset[str]
    meta: CacheMeta | None  # None: no cache (never built, or Redis lost it)
    epoch: str  # keys.HOT_STATE_EPOCH now ("" when absent)
    published_trips: int = 0  # entities in the TripUpdates cache
    operations: Mapping[str, str] = field(default_factory=dict)  # keys.TRIP_OPERATIONS


def marks_take(client: redis.Redis, *, now: float) -> Marks:
    """Take both mark sets with the caches' meta and the hot-state epoch, in one MULTI/EXEC;
    also drops the cancellations whose publication has ended, as
    ``hot_state_read.fleet_read`` does, and reads the dispatchers' trip operations (every
    build publishes them whole: ``operations``). The marks move to ``keys.FEED_TAKEN_*``, which the
    cache write clears (``entity_cache.cache_write``): a build that dies before it leaves
    them to the next build, which takes them again with the new ones."""
    pipe = client.pipeline(transaction=True)
    for dirty, taken in TAKEN.items():
        pipe.sunionstore(taken, [taken, dirty])
        pipe.delete(dirty)
        pipe.smembers(taken)
    pipe.hgetall(keys.FEED_CACHE_META)
    pipe.get(keys.HOT_STATE_EPOCH)
    pipe.zremrangebyscore(keys.RUNS_CANCELED, "-inf", f"({now}")
    pipe.hlen(keys.feed_entities(FeedName.TRIP_UPDATES))
    pipe.hgetall(keys.TRIP_OPERATIONS)
    _, _, vehicles, _, _, runs, meta, epoch, _, trips, operations = pipe.execute()
    return Marks(
        frozenset(vehicles), frozenset(runs), meta_from_redis(meta), epoch or "", trips, operations
    )


def changed_operation_trips(
    before: Mapping[str, str] | None, now: Mapping[str, str]
) -> frozenset[str] | None:
    """The trips whose published operations differ between two builds' digests (None:
    the last build's are unknown)."""
    if before is None:
        return None
    return frozenset(
        trip_id for trip_id in before.keys() | now.keys() if before.get(trip_id) != now.get(trip_id)
    )


# Each mark set and where a build keeps what it took from it.
TAKEN = {
    keys.FEED_DIRTY_VEHICLES: keys.FEED_TAKEN_VEHICLES,
    keys.FEED_DIRTY_RUNS: keys.FEED_TAKEN_RUNS,
}


# A build with at least this many runs marked, and as many as half the published trip
# updates, rebuilds whole instead: re-deciding most of the fleet costs more through the
# marks (their dependencies, the cache's changes) than reading it all (bench-feeds, all
# runs changed: 0.87 s of CPU against 0.77 s at 5,000 runs, 10.0 s against 7.6 s at
# 50,000). Below it an incremental build costs well under a full one whatever the share.
MOST_MARKED_MIN_RUNS = 1000


def full_rebuild_reason(
    marks: Marks, *, schedule: str, now: float, interval_s: float
) -> str | None:
    """Why this build must read everything (None: the caches and the marks suffice)."""
    meta, epoch = marks.meta, marks.epoch
    if meta is None or meta.full_at is None:
        return "no cache"
    if meta.epoch != epoch:
        return "hot state rebuilt"  # Redis lost its data, or an operator rebuilt it
    if meta.schedule != schedule:
        return "GTFS version changed"
    if now - meta.full_at >= interval_s:
        return "interval"  # the safety net against a mark lost or a writer without one
    if len(marks.runs) >= MOST_MARKED_MIN_RUNS and 2 * len(marks.runs) >= marks.published_trips:
        return "most runs changed"
    return None


@dataclass(frozen=True, slots=True)
class ChangedRecords:
    """What the marks reach: the hot state of those vehicles and runs (run sets limited to
    the runs read), which entities this build decides again, and the vehicles whose
    position alone is refreshed."""

    hot: FleetHotState
    vehicles: frozenset[str]  # vehicle positions re-decided
    runs: frozenset[str]  # trip updates re-decided
    # Marked vehicles this process published, whose claim and run did not change: their
    # claim, position and occupancy only (``feed_inputs.vehicle_entity_refreshed``).
    refreshed: tuple[VehicleHotState, ...] = ()


def changed_records_read(
    client: redis.Redis,
    marks: Marks,
    *,
    published_vehicles: Collection[str],
    claims: Mapping[str, str | None] | None = None,
) -> ChangedRecords:
    """The records the marked vehicles and runs need (see the module docstring).

    ``claims``: the vehicles whose published entity this process holds decoded, with the
    claim it was assembled with. A marked one whose claim is unchanged and whose run is
    not marked only had new telemetry: only that is read."""
    claims = claims or {}
    decided_vehicles = {vid for vid in marks.vehicles if vid not in claims}
    refresh = marks.vehicles - decided_vehicles
    decided_runs = set(marks.runs)
    vehicles: dict[str, VehicleHotState] = {}
    telemetry: dict[str, VehicleHotState] = {}
    runs: dict[str, RunHotState] = {}
    context: dict[str, RunHotState] = {}
    while True:
        need_vehicles = decided_vehicles - vehicles.keys()
        need_telemetry = refresh - telemetry.keys() - decided_vehicles
        need_runs = decided_runs - runs.keys()
        claimed = {state.current_run for state in vehicles.values() if state.current_run}
        need_context = claimed - runs.keys() - context.keys() - need_runs
        if not (need_vehicles or need_telemetry or need_runs or need_context):
            break
        records = records_read(
            client,
            vehicle_ids=sorted(need_vehicles),
            run_ids=sorted(need_runs),
            context_run_ids=sorted(need_context),
            telemetry_vehicle_ids=sorted(need_telemetry),
            projection_fields=PROJECTION_FIELDS,
        )
        for state in records.vehicles:
            vehicles[state.vehicle_id] = state
            if state.current_run and state.position and state.vehicle_id not in published_vehicles:
                decided_runs.add(state.current_run)
        for state in records.telemetry:
            telemetry[state.vehicle_id] = state
        for rid, run in records.runs.items():
            if rid not in need_runs:
                context[rid] = run
                continue
            runs[rid] = run
            context.pop(rid, None)
            if vehicle_id := run.projection.get(run_projection.VEHICLE_ID):
                decided_vehicles.add(vehicle_id)
        for vid, state in telemetry.items():
            if state.current_run != claims[vid] or state.current_run in decided_runs:
                decided_vehicles.add(vid)  # claimed since, or its run changed: read it whole
    every_run = {**context, **runs}
    sets = run_sets_read(client, sorted(every_run))
    hot = FleetHotState(
        # As fleet_read: only located vehicles (a descriptor of any other is its id alone).
        vehicles=tuple(state for _, state in sorted(vehicles.items()) if state.position),
        runs=every_run,
        tracking=sets.tracking,
        in_progress=sets.in_progress,
        canceled=frozenset(sets.canceled_until),
        canceled_until=sets.canceled_until,
    )
    refreshed = tuple(
        state for vid, state in sorted(telemetry.items()) if vid not in decided_vehicles
    )
    return ChangedRecords(hot, frozenset(decided_vehicles), frozenset(decided_runs), refreshed)


def _template(key_of) -> tuple[str, str]:
    """(prefix, suffix) around the id in the keys ``key_of`` names (through ``databus.keys``)."""
    prefix, suffix = key_of("\0").split("\0")
    return prefix, suffix


# The hashes a feed entity is assembled from, by owner. The projection (``run:{rid}``, no
# suffix) last: its prefix also begins every other run key.
_VEHICLE_KEYS = tuple(
    _template(k) for k in (keys.vehicle_position, keys.vehicle_occupancy, keys.vehicle_metadata)
)
_RUN_KEYS = tuple(
    _template(k)
    for k in (
        keys.run_trip,
        keys.run_vehicle_stop_status,
        keys.run_congestion_level,
        keys.run_stop_time_updates,
        keys.run,
    )
)


def skip_owner(skip: EntitySkip) -> tuple[str | None, str | None]:
    """(vehicle id, run id) whose record ``skip`` reports; a builder's skip names its entity
    (a vehicle in VehiclePositions, a run in TripUpdates)."""
    if skip.reason is HotStateSkip.BUILD_FAILED:
        return (None, skip.key) if skip.feed == TRIP_UPDATES_FEED else (skip.key, None)
    for templates, owner in ((_VEHICLE_KEYS, 0), (_RUN_KEYS, 1)):
        for prefix, suffix in templates:
            if skip.key.startswith(prefix) and skip.key.endswith(suffix):
                found = skip.key[len(prefix) : len(skip.key) - len(suffix)]
                return (found, None) if owner == 0 else (None, found)
    return None, None
