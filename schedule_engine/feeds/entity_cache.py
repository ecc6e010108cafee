"""The feeds' entity cache: each published entity's encoded record, kept in Redis between builds.

A build encodes only the entities whose inputs changed (``schedule_engine.feeds.tasks``)
and publishes every cached one that is still due, so the cache keeps with each record
what decides that without reading the hot state again:

- ``VEHICLE``: the position's timestamp (left out once older than the vehicle max age);
- ``TRIP``: the stop time updates' timestamp (left out, and reported, once older than
  their max age, as ``feed_inputs`` does);
- ``CANCELED``: until when the CANCELED trip is published (its score in ``runs:canceled``,
  or its scheduled end plus the margin if that is earlier);
- ``NEXT``: the next trip of a run's block (``block_trips``), its run's predictions'
  timestamp (left out with them, without a report of its own), and which trip instance
  it is (``trip_key``: left out as soon as a run publishes that trip, or it is cancelled).

The dispatchers' operations' own entities are not cached: every build decides them
from the whole ``keys.TRIP_OPERATIONS`` hash. The meta keeps a digest of each trip's
operations (``META_OPERATIONS``), so that a build re-decides the runs of the trips whose
operations changed since the last build.

Layout: one hash per feed (``keys.feed_entities``), entity id → ``<kind><number>|<record
in base64>`` and, for NEXT, ``|<trip key>`` (the hot-state client is a text client, as in
``store``), and ``keys.FEED_CACHE_META`` (what the caches were fully built from). Shared
by every worker: the build task runs on any of them. The parsing and the publication test
are pure; the two functions at the end are the I/O.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum

import redis

from databus import keys
from schedule_engine.feeds.store import HOT_STATE_FEEDS, FeedName

# Fields of keys.FEED_CACHE_META.
META_EPOCH = "epoch"  # keys.HOT_STATE_EPOCH as read when the caches were fully built ("" none)
META_SCHEDULE = "schedule"  # the current GTFS version's id then ("" none)
META_FULL_AT = "full_at"  # the build's ``now`` (POSIX s)
META_GENERATION = "generation"  # changes with every write: a process's copy is current if equal
META_OPERATIONS = (
    "operations"  # JSON: trip_id → digest of its published operations (``operations``)
)


class Kind(StrEnum):
    VEHICLE = "v"
    TRIP = "t"
    CANCELED = "c"
    NEXT = "n"


_KINDS = {kind.value: kind for kind in Kind}  # a dict lookup: the enum call costs 10x


@dataclass(frozen=True, slots=True)
class CachedEntity:
    """One entity's FeedMessage record (``builders.entity_record``) and its bound."""

    kind: Kind
    number: float  # the timestamp or, for CANCELED, the end of publication (POSIX s)
    record: bytes
    trip: str = ""  # NEXT: the trip instance it describes (``trip_key``)

    def to_text(self) -> str:
        text = f"{self.kind}{self.number!r}|" + base64.b64encode(self.record).decode("ascii")
        return f"{text}|{self.trip}" if self.trip else text

    @classmethod
    def from_text(cls, text: str) -> CachedEntity | None:
        """None for a value this module did not write (the entity is then encoded again)."""
        head, _, rest = text.partition("|")
        body, _, trip = rest.partition("|")  # base64 has no "|"
        kind = _KINDS.get(head[:1])
        try:
            number, record = float(head[1:]), base64.b64decode(body, validate=True)
        except ValueError:  # binascii.Error is a ValueError
            return None
        return None if kind is None else cls(kind, number, record, trip)


def trip_key(trip_id: str, start_date: str) -> str:
    """One trip instance, as a NEXT entity keeps it."""
    return f"{trip_id} {start_date}"


@dataclass(frozen=True, slots=True)
class Bounds:
    """The settings the publication test takes, as ``feed_inputs`` takes them."""

    vehicle_max_age_s: float
    stop_time_update_max_age_s: float


def is_due(entity: CachedEntity, now: float, bounds: Bounds) -> bool:
    """Whether ``entity`` is still published at ``now`` (the same comparisons as the full
    build's: ``feed_inputs`` for ages, ``runs:canceled`` and ``schedule_agreement`` for a
    cancellation)."""
    if entity.kind is Kind.VEHICLE:
        return not entity.number < now - bounds.vehicle_max_age_s
    if entity.kind is Kind.TRIP or entity.kind is Kind.NEXT:
        return not entity.number < now - bounds.stop_time_update_max_age_s
    return not now > entity.number


@dataclass(frozen=True, slots=True)
class CacheMeta:
    epoch: str
    schedule: str
    full_at: float | None
    generation: str = ""
    operations: Mapping[str, str] | None = None  # None: not recorded (every trip changed)


def meta_from_redis(fields: Mapping[str, str]) -> CacheMeta | None:
    """None when the caches were never built (or Redis lost them)."""
    if not fields:
        return None
    try:
        full_at = float(fields.get(META_FULL_AT, ""))
    except ValueError:
        full_at = None
    return CacheMeta(
        fields.get(META_EPOCH, ""),
        fields.get(META_SCHEDULE, ""),
        full_at,
        fields.get(META_GENERATION, ""),
        _digests(fields.get(META_OPERATIONS)),
    )


def _digests(text: str | None) -> Mapping[str, str] | None:
    try:
        digests = json.loads(text) if text else None
    except ValueError:
        return None
    if not isinstance(digests, dict) or not all(isinstance(v, str) for v in digests.values()):
        return None
    return digests


@dataclass(frozen=True, slots=True)
class CacheChanges:
    """What one build writes: per feed the entities encoded and those no longer published;
    ``meta`` only when it rebuilt the caches whole (``replace``), ``generation`` always."""

    written: Mapping[FeedName, Mapping[str, CachedEntity]]
    removed: Mapping[FeedName, Iterable[str]]
    generation: str
    replace: bool = False
    meta: CacheMeta | None = None
    # Marked again for the next build: entities whose timestamp was capped at ``now``.
    dirty_vehicles: Iterable[str] = ()
    dirty_runs: Iterable[str] = ()
    operations: Mapping[str, str] | None = None  # the digests this build published
    # With ``replace``: per feed, a hash the build's processes already wrote part of the
    # cache into (``cache_stage``); it becomes the cache, and ``written`` adds the rest.
    staged: Mapping[FeedName, str] = field(default_factory=dict)


def cache_read(client: redis.Redis) -> dict[FeedName, dict[str, str]]:
    """Both feeds' cached entities as stored (parsed only when used): one round trip."""
    pipe = client.pipeline(transaction=False)
    for name in HOT_STATE_FEEDS:
        pipe.hgetall(keys.feed_entities(name))
    return dict(zip(HOT_STATE_FEEDS, pipe.execute(), strict=True))


def cache_write(client: redis.Redis, changes: CacheChanges) -> None:
    """One MULTI/EXEC: a reader never sees a cache half replaced, nor without its meta, and
    the marks the build took are cleared with the write that makes them redundant."""
    pipe = client.pipeline(transaction=True)
    for name in HOT_STATE_FEEDS:
        key = keys.feed_entities(name)
        if changes.replace and name in changes.staged:
            pipe.rename(changes.staged[name], key)
            pipe.persist(key)  # RENAME carries the staged hash's TTL over
        elif changes.replace:
            pipe.delete(key)
        removed = list(changes.removed.get(name, ()))
        if removed and not changes.replace:
            pipe.hdel(key, *removed)
        written = changes.written.get(name, {})
        if written:
            pipe.hset(key, mapping={eid: entity.to_text() for eid, entity in written.items()})
    fields = {META_GENERATION: changes.generation}
    if changes.operations is not None:
        fields[META_OPERATIONS] = json.dumps(dict(changes.operations), sort_keys=True)
    if changes.meta is not None:
        meta = changes.meta
        fields.update(
            {META_EPOCH: meta.epoch, META_SCHEDULE: meta.schedule, META_FULL_AT: repr(meta.full_at)}
        )
    pipe.hset(keys.FEED_CACHE_META, mapping=fields)
    # The marks this build took are in the caches now (``changes.marks_take``).
    pipe.delete(keys.FEED_TAKEN_VEHICLES, keys.FEED_TAKEN_RUNS)
    dirty_vehicles, dirty_runs = list(changes.dirty_vehicles), list(changes.dirty_runs)
    if dirty_vehicles:
        pipe.sadd(keys.FEED_DIRTY_VEHICLES, *dirty_vehicles)
    if dirty_runs:
        pipe.sadd(keys.FEED_DIRTY_RUNS, *dirty_runs)
    pipe.execute()


# Fields written by one HSET of ``cache_stage``.
_STAGED_PER_COMMAND = 5_000


def cache_stage(
    client: redis.Redis,
    staged: Mapping[FeedName, str],
    written: Mapping[FeedName, Mapping[str, CachedEntity]],
    *,
    ttl_s: int,
) -> None:
    """Write part of a full build's entities into the staged hashes (``staged``: per feed,
    a ``keys.feed_entities_staged`` key), each expiring after ``ttl_s`` unless the build's
    ``cache_write`` makes it the cache: one pipeline. The processes of a split build each
    write their own part at once, instead of the build writing all of it after them."""
    pipe = client.pipeline(transaction=False)
    for name, entities in written.items():
        if not entities:
            continue
        fields = [(eid, entity.to_text()) for eid, entity in entities.items()]
        for start in range(0, len(fields), _STAGED_PER_COMMAND):
            pipe.hset(staged[name], mapping=dict(fields[start : start + _STAGED_PER_COMMAND]))
        pipe.expire(staged[name], ttl_s)
    if len(pipe):
        pipe.execute()
