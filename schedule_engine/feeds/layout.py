"""One build's entities, encoded and merged into the cached ones, laid out as both payloads.

Takes what a build decided (``Decided``: the assembled and agreed entities of the
vehicles and runs it read, and the vehicles whose position alone it refreshed) and the
cached entities (this process's copy, or the stored text), and returns the payloads and
the change to write back (``entity_cache.CacheChanges``). Pure, apart from reporting
skips to the ``Skips`` it is given.

- Each decided entity is encoded on its own (``builders.vehicle_position_record``,
  ``trip_update_record``) with what decides its publication later (``entity_cache``).
- A decided vehicle or run without an entity now leaves the cache.
- A payload is the shared header (``builders.feed_payload``: never before the stored
  feed's) and every cached entity still due at ``now``, ordered by entity id; one that is
  no longer due leaves the cache, except a trip update whose predictions aged, kept
  (and reported, as the full build reports it) until its run is decided again.
- An entity whose timestamp was capped at ``now`` (a clock ahead, a cancellation without
  its time) is marked for the next build, whose ``now`` gives it a later one.
- The next trip of a run's block (``FeedInputs.next_trips``) is cached with its run
  (decided, and left out, with it), and left out as soon as a run decided since
  publishes that trip instance or a dispatcher cancels it (``Decided.superseded``); the
  dispatchers' operations' entities (``FeedInputs.operations``) are encoded by every
  build and not cached.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from schedule_engine.feeds.block_trips import next_trip_id, owner_run_id
from schedule_engine.feeds.builders import (
    TRIP_UPDATES_FEED,
    feed_payload,
    header_timestamp,
    trip_update_record,
    vehicle_position_record,
)
from schedule_engine.feeds.changes import skip_owner
from schedule_engine.feeds.entity_cache import (
    Bounds,
    CacheChanges,
    CachedEntity,
    Kind,
    is_due,
    trip_key,
)
from schedule_engine.feeds.feed_inputs import FeedInputs, stale_stop_time_updates_report
from schedule_engine.feeds.mirror import PublishedVehicle
from schedule_engine.feeds.schedule_agreement import ScheduleIds
from schedule_engine.feeds.skips import RecordReader
from schedule_engine.feeds.snapshots import EntitySkip, TripEntity, VehicleEntity
from schedule_engine.feeds.store import HOT_STATE_FEEDS, FeedName


class Skips:
    """Passes each skipped record on (``skips.entity_skip_record``) and remembers whose it
    was: that vehicle or run is decided again next build, so a record that stays bad is
    counted on every build, as a full build counts it."""

    def __init__(self, report: Callable[[EntitySkip], None]) -> None:
        self.report = report
        self.vehicles: set[str] = set()
        self.runs: set[str] = set()

    def record(self, skip: EntitySkip) -> None:
        self.report(skip)
        vehicle_id, run_id = skip_owner(skip)
        if vehicle_id is not None:
            self.vehicles.add(vehicle_id)
        if run_id is not None:
            self.runs.add(run_id)


@dataclass(frozen=True, slots=True)
class Decided:
    """What a build decided. ``vehicles``/``runs`` None: everything (a full build)."""

    inputs: FeedInputs
    vehicles: frozenset[str] | None
    runs: frozenset[str] | None
    claims: Mapping[str, str | None]  # of the vehicles assembled whole
    canceled_until: Mapping[str, float]
    # Vehicles refreshed from their position alone: (id, entity now, or None: left out).
    refreshed: Sequence[tuple[str, VehicleEntity | None]] = ()
    skips: Skips = field(default_factory=lambda: Skips(lambda skip: None))
    # Trip instances (``entity_cache.trip_key``) no block's next-trip entity may describe.
    superseded: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class Payload:
    payload: bytes  # a serialised FeedMessage
    entity_count: int
    header_timestamp: int


@dataclass(frozen=True, slots=True)
class Layout:
    payloads: Mapping[FeedName, Payload]
    changes: CacheChanges
    entities: Mapping[FeedName, dict[str, CachedEntity]]  # the caches after the change
    vehicles: dict[str, PublishedVehicle]  # the published vehicles known decoded


@dataclass(frozen=True, slots=True)
class Settings:
    bounds: Bounds
    canceled_margin_s: float


def layout(
    decided: Decided,
    cached: Mapping[FeedName, Mapping[str, CachedEntity | str]],
    known: Mapping[str, PublishedVehicle],
    *,
    schedule: ScheduleIds | None,
    now: int,
    previous_headers: Mapping[FeedName, int | None],
    generation: str,
    settings: Settings,
    encoded: Encoded | None = None,
) -> Layout:
    """Both payloads and the cache change (see the module docstring). ``encoded``: the
    entities a build split across processes encoded there (``sharded_decision``), laid
    out with those ``decided`` holds."""
    written, vehicles = entities_encoded(decided, known, schedule, now, settings.canceled_margin_s)
    if encoded is not None:
        for name in HOT_STATE_FEEDS:
            written[name].update(encoded.written[name])
        vehicles.update(encoded.vehicles)
    removed = {
        FeedName.VEHICLE_POSITIONS: _left(decided.vehicles, decided.refreshed, written),
        FeedName.TRIP_UPDATES: (
            set()
            if decided.runs is None
            else {eid for rid in decided.runs for eid in (rid, next_trip_id(rid))}
            - written[FeedName.TRIP_UPDATES].keys()
        ),
    }
    operations = _operation_records(decided)
    again = {
        FeedName.VEHICLE_POSITIONS: decided.skips.vehicles,
        FeedName.TRIP_UPDATES: decided.skips.runs,
    }
    stale = RecordReader(TRIP_UPDATES_FEED, decided.skips.report)
    payloads: dict[FeedName, Payload] = {}
    entities: dict[FeedName, dict[str, CachedEntity]] = {}
    for name in HOT_STATE_FEEDS:
        fresh, stored, gone = written[name], cached[name], removed[name]
        for eid, entity in fresh.items():
            if entity.kind is not Kind.CANCELED and entity.number >= now:
                # Capped at now: a later build gives it a later one.
                again[name].add(owner_run_id(eid) if entity.kind is Kind.NEXT else eid)
        kept: dict[str, CachedEntity] = {}
        records: list[bytes] = []
        extra = operations if name is FeedName.TRIP_UPDATES else {}
        for eid in sorted((stored.keys() - gone) | fresh.keys() | extra.keys()):
            if eid in extra:
                records.append(extra[eid])
                continue
            entity = fresh.get(eid) or _parsed(stored[eid])
            if entity is None:  # not written by this version: decided again next build
                gone.add(eid)
                again[name].add(eid)
            elif entity.kind is Kind.NEXT and entity.trip in decided.superseded:
                gone.add(eid)
            elif is_due(entity, now, settings.bounds):
                records.append(entity.record)
                kept[eid] = entity
            elif entity.kind is Kind.TRIP:
                # Kept while its run is in progress: fresh predictions replace it.
                stale_stop_time_updates_report(
                    stale, eid, entity.number, now, settings.bounds.stop_time_update_max_age_s
                )
                kept[eid] = entity
            else:
                gone.add(eid)
                if name is FeedName.VEHICLE_POSITIONS:
                    vehicles.pop(eid, None)
        before = previous_headers[name]
        payloads[name] = Payload(
            feed_payload(now, before, records), len(records), header_timestamp(now, before)
        )
        entities[name] = kept
    changes = CacheChanges(
        written=written,
        removed=removed,
        generation=generation,
        dirty_vehicles=again[FeedName.VEHICLE_POSITIONS],
        dirty_runs=again[FeedName.TRIP_UPDATES],
    )
    return Layout(payloads, changes, entities, vehicles)


def _parsed(entity: CachedEntity | str) -> CachedEntity | None:
    return entity if isinstance(entity, CachedEntity) else CachedEntity.from_text(entity)


def _left(
    decided: frozenset[str] | None,
    refreshed: Sequence[tuple[str, VehicleEntity | None]],
    written: Mapping[FeedName, Mapping[str, CachedEntity]],
) -> set[str]:
    """The vehicles decided or refreshed that have no entity now."""
    if decided is None:
        return set()
    ids = set(decided) | {vid for vid, _ in refreshed}
    return ids - written[FeedName.VEHICLE_POSITIONS].keys()


@dataclass(frozen=True, slots=True)
class Encoded:
    """Decided entities as cached records, by feed, and the published vehicles decoded."""

    written: dict[FeedName, dict[str, CachedEntity]]
    vehicles: dict[str, PublishedVehicle]


def entities_encoded(
    decided: Decided,
    known: Mapping[str, PublishedVehicle],
    schedule: ScheduleIds | None,
    now: int,
    canceled_margin_s: float,
) -> tuple[dict[FeedName, dict[str, CachedEntity]], dict[str, PublishedVehicle]]:
    """The decided entities as cached records, and the published vehicles known decoded.
    A vehicle's cached number is its (capped) position timestamp, an in-progress trip's
    its predictions' timestamp, a CANCELED trip's the end of its publication. A CANCELED
    trip capped at ``now`` is added to ``decided.skips.runs`` (decided again next build)."""
    on_skip = decided.skips.record
    vehicles: dict[str, CachedEntity] = {}
    published = {} if decided.vehicles is None else dict(known)
    for vid in decided.vehicles or ():
        published.pop(vid, None)
    assembled = [
        (item, decided.claims.get(item.vehicle.vehicle_id))
        for item in decided.inputs.vehicles
        if decided.vehicles is None or item.vehicle.vehicle_id in decided.vehicles
    ]
    refreshed = [
        (item, published[vid].claim) for vid, item in decided.refreshed if item is not None
    ]
    for vid, item in decided.refreshed:
        if item is None:
            published.pop(vid, None)
    for item, claim in (*assembled, *refreshed):
        vid = item.vehicle.vehicle_id
        record = vehicle_position_record(item, on_skip)
        if record is None:
            published.pop(vid, None)
            continue
        vehicles[vid] = CachedEntity(Kind.VEHICLE, item.position.timestamp, record)
        published[vid] = PublishedVehicle(item, claim)
    trips: dict[str, CachedEntity] = {}
    for item in decided.inputs.trips:
        rid = item.run_id
        if decided.runs is not None and rid not in decided.runs:
            continue  # a run read for its vehicle's sake, without its predictions
        record = trip_update_record(item, on_skip)
        if record is None:
            continue
        if item.trip.cancelled:
            until = _canceled_until(decided, item, schedule, canceled_margin_s)
            # Capped at now when it has no time of its own: re-encoded by the next build.
            trips[rid] = CachedEntity(Kind.CANCELED, until, record)
            if item.timestamp >= now:
                decided.skips.runs.add(rid)
        else:
            trips[rid] = CachedEntity(Kind.TRIP, item.timestamp, record)
    for item in decided.inputs.next_trips:
        if decided.runs is not None and owner_run_id(item.run_id) not in decided.runs:
            continue
        record = trip_update_record(item, on_skip)
        if record is not None:
            key = trip_key(item.trip.trip_id, item.trip.start_date)
            trips[item.run_id] = CachedEntity(Kind.NEXT, item.timestamp, record, key)
    return {FeedName.VEHICLE_POSITIONS: vehicles, FeedName.TRIP_UPDATES: trips}, published


def _operation_records(decided: Decided) -> dict[str, bytes]:
    """The operations' entities, encoded (a value protobuf refuses: left out, reported)."""
    records = {}
    for item in decided.inputs.operations:
        record = trip_update_record(item, decided.skips.record)
        if record is not None:
            records[item.run_id] = record
    return records


def _canceled_until(
    decided: Decided, item: TripEntity, schedule: ScheduleIds | None, margin_s: float
) -> float:
    """When a CANCELED trip stops being published: its score in runs:canceled, or its
    scheduled end plus the margin if earlier (``schedule_agreement``)."""
    until = decided.canceled_until.get(item.run_id, math.inf)
    end = None if schedule is None else schedule.trip_end_at(item.trip)
    return until if end is None else min(until, end + margin_s)
