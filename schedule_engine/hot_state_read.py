"""The one reader of the hot state's vehicles and runs: their hashes, as raw strings.

Every entry point is built from the same parts: the hashes of a vehicle and of a run (key
lists in the order of ``VehicleHotState`` and ``RunHotState``), the claims
(``vehicle:{vid}:current_run``, one MGET), the run sets, and the hashes as plain commands
written in large batches, their replies parsed as they arrive (``_replies_read``: redis-py's
per-command cost is what limits a large read).

- ``fleet_read``: every vehicle with a stored position and every tracking, in-progress or
  cancelled run, for a feed build (``schedule_engine.feeds.feed_inputs`` decides what is
  published). A handful of round trips whatever the fleet size: SCAN for the vehicles,
  one pipeline for the run sets, one MGET for the claims, one round trip per 10,000
  hashes. ``fleet_outline_read`` and ``fleet_part_read`` split it for a build in several
  processes.
- ``records_read``: the chosen vehicles and runs, for a WebSocket snapshot of one vehicle,
  run or route (``realtime_engine.ws.snapshot``) and for an incremental feed build (the
  vehicles and runs marked since the last one, some runs without their predictions);
  ``located_vehicle_ids_read`` and ``claimed_or_active_run_ids_read`` choose them for a
  route or for everything; ``run_sets_read`` says which of some runs are in the sets;
  ``trip_claims_read`` which run claims each of some trips (a feed build: the trips a
  dispatcher's operation names, the next trips of the runs' blocks).

Nothing here decodes: a missing hash reads as ``{}``, and each caller takes the values
through the contracts (``runs.domain.telemetry``, ``runs.domain.projections``) with its
own tolerance of a bad record. Keys through ``databus.keys`` only. Writes nothing, except
that ``fleet_read`` drops the members of ``runs:canceled`` whose score has passed.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TypeVar

import hiredis
import redis

from databus import keys
from runs.domain.projections import run as run_projection

SCAN_COUNT = 5000

Hash = Mapping[str, str]


@dataclass(frozen=True, slots=True)
class VehicleHotState:
    """The stored hashes of one vehicle, as strings."""

    vehicle_id: str
    position: Hash
    occupancy: Hash = field(default_factory=dict)
    metadata: Hash = field(default_factory=dict)
    current_run: str | None = None


@dataclass(frozen=True, slots=True)
class RunHotState:
    """The stored hashes of one run, as strings."""

    run_id: str
    projection: Hash = field(default_factory=dict)  # run:{rid}
    trip: Hash = field(default_factory=dict)  # run:{rid}:trip
    stop_status: Hash = field(default_factory=dict)
    congestion: Hash = field(default_factory=dict)
    stop_time_updates: Hash = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class HotStateRecords:
    """The hashes of the vehicles and runs asked for, in the order asked (each once)."""

    vehicles: tuple[VehicleHotState, ...] = ()
    runs: Mapping[str, RunHotState] = field(default_factory=dict)
    telemetry: tuple[VehicleHotState, ...] = ()  # telemetry_vehicle_ids (no metadata)


@dataclass(frozen=True, slots=True)
class FleetHotState:
    """Everything a feed build reads, exactly as read."""

    vehicles: tuple[VehicleHotState, ...] = ()
    runs: Mapping[str, RunHotState] = field(default_factory=dict)
    tracking: frozenset[str] = frozenset()
    in_progress: frozenset[str] = frozenset()
    canceled: frozenset[str] = frozenset()
    # The score of each member of ``canceled``: published as CANCELED until then (POSIX s).
    canceled_until: Mapping[str, float] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class RunSets:
    """Which of the runs asked for are in the tracking, in-progress and cancelled sets."""

    tracking: frozenset[str] = frozenset()
    in_progress: frozenset[str] = frozenset()
    canceled_until: Mapping[str, float] = field(default_factory=dict)


def _vehicle_hash_keys(vehicle_id: str) -> tuple[str, str, str]:
    return (
        keys.vehicle_position(vehicle_id),
        keys.vehicle_occupancy(vehicle_id),
        keys.vehicle_metadata(vehicle_id),
    )


def _run_hash_keys(run_id: str) -> tuple[str, str, str, str, str]:
    return (
        keys.run(run_id),
        keys.run_trip(run_id),
        keys.run_vehicle_stop_status(run_id),
        keys.run_congestion_level(run_id),
        keys.run_stop_time_updates(run_id),
    )


_VEHICLE_HASHES = len(_vehicle_hash_keys(""))
_RUN_HASHES = len(_run_hash_keys(""))
# A run read without its predictions: every hash but the last (stop_time_updates).
_CONTEXT_RUN_HASHES = _RUN_HASHES - 1
# A vehicle's telemetry alone: position and occupancy, not its metadata.
_TELEMETRY_HASHES = _VEHICLE_HASHES - 1


def located_vehicle_ids_read(client: redis.Redis) -> list[str]:
    """Every vehicle with a stored position, sorted: ``keys.VEHICLES_LOCATED``, which the
    ingest keeps, or the position keys a SCAN finds when that set is absent (writes
    nothing: ``fleet_read`` fills the set)."""
    return sorted(client.smembers(keys.VEHICLES_LOCATED)) or _located_scanned(client)


def _located_scanned(client: redis.Redis) -> list[str]:
    """The vehicles whose position key a SCAN finds, sorted (a SCAN matches against every
    key in Redis: 0.3 s of its CPU at 50,000 vehicles, which the set spares)."""
    return sorted(
        {
            keys.vehicle_id_of_position_key(key)
            for key in client.scan_iter(match=keys.VEHICLE_POSITION_PATTERN, count=SCAN_COUNT)
        }
    )


def claimed_or_active_run_ids_read(client: redis.Redis) -> list[str]:
    """Every run claiming a vehicle (located or not) or in the tracking sets, sorted."""
    claims = list(client.scan_iter(match=keys.VEHICLE_CURRENT_RUN_PATTERN, count=SCAN_COUNT))
    pipe = client.pipeline(transaction=False)
    _active_runs_queue(pipe)
    if claims:
        pipe.mget(claims)
    tracking, in_progress, *claimed = pipe.execute()
    return sorted({rid for rid in (claimed[0] if claimed else ()) if rid} | tracking | in_progress)


def records_read(
    client: redis.Redis,
    *,
    vehicle_ids: Iterable[str] = (),
    run_ids: Iterable[str] = (),
    context_run_ids: Iterable[str] = (),
    telemetry_vehicle_ids: Iterable[str] = (),
    projection_fields: Sequence[str] | None = None,
    claims: Mapping[str, str | None] | None = None,
) -> HotStateRecords:
    """The hashes and claims of ``vehicle_ids`` (the claims from ``claims`` when the caller
    has just read them, else read), the hashes of ``run_ids``; for a feed
    build, the hashes of ``context_run_ids`` but their stop time updates (read as ``{}``:
    re-describing a vehicle needs its run's trip and status, not its predictions, the
    largest hash), and of ``telemetry_vehicle_ids`` only the claim, position and occupancy
    (metadata read as ``{}``: the build knows the rest). Of each run's projection only
    ``projection_fields`` when given (a feed build needs three of its dozen fields).
    A few round trips: the claims' MGET, then the hashes and the projections' fields,
    ``COMMANDS_PER_WRITE`` commands a round trip (``_replies_read``)."""
    vehicle_ids = list(dict.fromkeys(vehicle_ids))
    whole = set(vehicle_ids)
    telemetry_vehicle_ids = [
        vid for vid in dict.fromkeys(telemetry_vehicle_ids) if vid not in whole
    ]
    run_ids = list(dict.fromkeys(run_ids))
    full = set(run_ids)
    context_run_ids = [rid for rid in dict.fromkeys(context_run_ids) if rid not in full]
    # The projections read apart (HMGET) start every run's hashes at its second key.
    apart = 0 if projection_fields is None else 1
    # (ids, hashes read of each): the reply is split back in this order.
    groups = (
        (vehicle_ids, _VEHICLE_HASHES),
        (telemetry_vehicle_ids, _TELEMETRY_HASHES),
        (run_ids, _RUN_HASHES - apart),
        (context_run_ids, _CONTEXT_RUN_HASHES - apart),
    )
    hash_keys: list[str] = []
    for vid in vehicle_ids:
        hash_keys += _vehicle_hash_keys(vid)
    for vid in telemetry_vehicle_ids:
        hash_keys += _vehicle_hash_keys(vid)[:_TELEMETRY_HASHES]
    for rid in run_ids:
        hash_keys += _run_hash_keys(rid)[apart:]
    for rid in context_run_ids:
        hash_keys += _run_hash_keys(rid)[apart:_CONTEXT_RUN_HASHES]
    all_run_ids = run_ids + context_run_ids
    if not hash_keys:
        return HotStateRecords()
    claimed = vehicle_ids + telemetry_vehicle_ids
    current_runs = dict(zip(claimed, _claims_read(client, claimed), strict=True)) if claimed else {}
    hashes = _hashes_read(client, hash_keys)
    split: list[list[tuple[dict[str, str], ...]]] = []
    start = 0
    for ids, size in groups:
        split.append(list(_groups(hashes[start : start + size * len(ids)], size)))
        start += size * len(ids)
    vehicles, telemetry, runs, context = split
    if projection_fields is not None:
        projections = _fields_read(
            client, [keys.run(rid) for rid in all_run_ids], projection_fields
        )
        runs, context = (
            [(projection, *values) for projection, values in zip(projected, read, strict=True)]
            for projected, read in (
                (projections[: len(run_ids)], runs),
                (projections[len(run_ids) :], context),
            )
        )
    return HotStateRecords(
        vehicles=tuple(
            VehicleHotState(vid, *values, current_run=current_runs[vid])
            for vid, values in zip(vehicle_ids, vehicles, strict=True)
        ),
        runs={
            rid: RunHotState(rid, *values)
            for rid, values in zip(all_run_ids, runs + context, strict=True)
        },
        telemetry=tuple(
            VehicleHotState(vid, *values, current_run=current_runs[vid])
            for vid, values in zip(telemetry_vehicle_ids, telemetry, strict=True)
        ),
    )


def run_sets_read(client: redis.Redis, run_ids: Sequence[str]) -> RunSets:
    """Which of ``run_ids`` are tracking, in progress or cancelled (with its score): one
    pipeline of three commands, whatever the number of runs."""
    if not run_ids:
        return RunSets()
    pipe = client.pipeline(transaction=False)
    pipe.smismember(keys.RUNS_TRACKING, run_ids)
    pipe.smismember(keys.RUNS_IN_PROGRESS, run_ids)
    pipe.zmscore(keys.RUNS_CANCELED, run_ids)
    tracking, in_progress, scores = pipe.execute()
    return RunSets(
        tracking=frozenset(rid for rid, member in zip(run_ids, tracking, strict=True) if member),
        in_progress=frozenset(
            rid for rid, member in zip(run_ids, in_progress, strict=True) if member
        ),
        canceled_until={
            rid: float(score)
            for rid, score in zip(run_ids, scores, strict=True)
            if score is not None
        },
    )


def trip_claims_read(client: redis.Redis, trip_ids: Sequence[str]) -> dict[str, str | None]:
    """The run claiming each of ``trip_ids`` (``trip:{tid}:current_run``; None: none): one MGET."""
    if not trip_ids:
        return {}
    claims = client.mget([keys.trip_current_run(tid) for tid in trip_ids])
    return dict(zip(trip_ids, claims, strict=True))


def fleet_read(
    client: redis.Redis,
    *,
    now: float,
    projection_fields: Sequence[str] | None = None,
    outline: FleetOutline | None = None,
) -> FleetHotState:
    """Read every located vehicle and every tracking, in-progress or cancelled run (of
    each run's projection only ``projection_fields``, when given); those of ``outline``
    when one was just read (``fleet_outline_read``: its vehicles, claims and sets are not
    read again)."""
    if outline is None:
        outline = _run_sets_all_read(client, now)
    records = records_read(
        client,
        vehicle_ids=outline.vehicle_ids,
        run_ids=outline.run_ids,
        projection_fields=projection_fields,
        claims=outline.claims,
    )
    return _fleet_hot_state(outline, records.vehicles, records.runs)


@dataclass(frozen=True, slots=True)
class FleetOutline:
    """Which vehicles are located, which runs are in the sets, and who claims whom: what
    splitting a whole-fleet read into parts needs, without the hashes."""

    vehicle_ids: tuple[str, ...] = ()  # located, sorted
    claims: Mapping[str, str | None] = field(default_factory=dict)  # of the located vehicles
    tracking: frozenset[str] = frozenset()
    in_progress: frozenset[str] = frozenset()
    canceled_until: Mapping[str, float] = field(default_factory=dict)

    @property
    def run_ids(self) -> list[str]:
        """Every tracking, in-progress or cancelled run, sorted (``fleet_read``'s runs)."""
        return sorted(self.tracking | self.in_progress | self.canceled_until.keys())

    @property
    def run_claimants(self) -> dict[str, str]:
        """The located vehicle claiming each claimed run (the first by id, should two)."""
        claimants: dict[str, str] = {}
        for vid in self.vehicle_ids:
            if rid := self.claims.get(vid):
                claimants.setdefault(rid, vid)
        return claimants


def fleet_outline_read(client: redis.Redis, *, now: float) -> FleetOutline:
    """``fleet_read``'s vehicles and runs without their hashes: the located vehicles and
    their claims, and the run sets (three round trips: SCAN, the sets, one MGET). Drops the
    cancellations whose score has passed, as ``fleet_read`` does."""
    sets = _run_sets_all_read(client, now)
    vehicle_ids = sets.vehicle_ids
    return replace(
        sets, claims=dict(zip(vehicle_ids, _claims_read(client, vehicle_ids), strict=True))
    )


def _run_sets_all_read(client: redis.Redis, now: float) -> FleetOutline:
    """The run sets whole, once the cancellations whose score has passed are dropped, and
    the located vehicles (an outline without the claims): one pipeline, and a SCAN that
    fills ``keys.VEHICLES_LOCATED`` when the set is absent."""
    pipe = client.pipeline(transaction=False)
    _active_runs_queue(pipe)
    pipe.zremrangebyscore(keys.RUNS_CANCELED, "-inf", f"({now}")
    pipe.zrange(keys.RUNS_CANCELED, 0, -1, withscores=True)
    pipe.smembers(keys.VEHICLES_LOCATED)
    tracking, in_progress, _, canceled_scores, located = pipe.execute()
    if not located and (located := _located_scanned(client)):
        client.sadd(keys.VEHICLES_LOCATED, *located)
    return FleetOutline(
        vehicle_ids=tuple(sorted(located)),
        tracking=frozenset(tracking),
        in_progress=frozenset(in_progress),
        canceled_until={rid: float(score) for rid, score in canceled_scores},
    )


def fleet_part_read(
    client: redis.Redis,
    outline: FleetOutline,
    *,
    vehicle_ids: Sequence[str],
    run_ids: Sequence[str],
    context_run_ids: Sequence[str],
    projection_fields: Sequence[str],
) -> FleetHotState:
    """Part of ``fleet_read``: the hashes of the vehicles and runs named (``records_read``;
    the context runs without their predictions), then those of the located vehicles that
    the runs' projections name and ``vehicle_ids`` does not hold (their descriptors; the
    projection's vehicle is nearly always the run's claimant, so usually none), with the
    outline's run sets and claims. ``projection_fields`` must hold the projection's
    vehicle."""
    records = records_read(
        client,
        vehicle_ids=vehicle_ids,
        run_ids=run_ids,
        context_run_ids=context_run_ids,
        projection_fields=projection_fields,
        claims=outline.claims,
    )
    held, located = set(vehicle_ids), set(outline.vehicle_ids)
    named = sorted(
        {
            vid
            for rid in run_ids
            if (vid := records.runs[rid].projection.get(run_projection.VEHICLE_ID)) in located
        }
        - held
    )
    vehicles = records.vehicles
    if named:
        vehicles += records_read(client, vehicle_ids=named, claims=outline.claims).vehicles
    return _fleet_hot_state(outline, vehicles, records.runs)


def _fleet_hot_state(
    outline: FleetOutline, vehicles: Iterable[VehicleHotState], runs: Mapping[str, RunHotState]
) -> FleetHotState:
    """The vehicles and runs read, with the outline's run sets; only the vehicles with a
    position (a member of ``keys.VEHICLES_LOCATED`` may have lost its hash)."""
    return FleetHotState(
        vehicles=tuple(state for state in vehicles if state.position),
        runs=runs,
        tracking=outline.tracking,
        in_progress=outline.in_progress,
        canceled=frozenset(outline.canceled_until),
        canceled_until=outline.canceled_until,
    )


def _active_runs_queue(pipe: redis.client.Pipeline) -> None:
    """Queue the tracking and in-progress sets (their replies, in that order)."""
    pipe.smembers(keys.RUNS_TRACKING)
    pipe.smembers(keys.RUNS_IN_PROGRESS)


# Commands written at once by ``_replies_read`` before their replies are read.
COMMANDS_PER_WRITE = 10_000
_RECEIVE_BYTES = 1 << 16


def _hashes_read(client: redis.Redis, hash_keys: Sequence[str]) -> list[dict[str, str]]:
    """HGETALL of each key, in order (``{}`` for a missing one)."""
    return [_as_dict(reply) for reply in _replies_read(client, map(_hgetall_command, hash_keys))]


def _fields_read(
    client: redis.Redis, hash_keys: Sequence[str], fields: Sequence[str]
) -> list[dict[str, str]]:
    """Of each key, the ``fields`` it holds, in order (HMGET)."""
    tail = b"".join(_bulk(name) for name in fields)
    head = b"*%d\r\n$5\r\nHMGET\r\n" % (len(fields) + 2)
    replies = _replies_read(client, (head + _bulk(key) + tail for key in hash_keys))
    return [
        {name: value for name, value in zip(fields, values, strict=True) if value is not None}
        for values in replies
    ]


def _claims_read(client: redis.Redis, vehicle_ids: Sequence[str]) -> list[str | None]:
    """Each vehicle's ``vehicle:{vid}:current_run`` (None: none), in order: one MGET."""
    if not vehicle_ids:
        return []
    return client.mget([keys.vehicle_current_run(vid) for vid in vehicle_ids])


def _replies_read(client: redis.Redis, commands: Iterable[bytes]) -> list:
    """The reply to each RESP-encoded command, sent ``COMMANDS_PER_WRITE`` at a time on one
    of ``client``'s connections.

    The replies are parsed by a hiredis reader of this call's own, from the connection's
    socket (connected, authenticated and on its database, as redis-py left it):
    redis-py's packing and per-reply bookkeeping cost more than the read itself (175,000
    HGETALLs: 1.55-1.64 s of CPU through a pipeline, 1.05-1.16 s through a connection's
    ``read_response``, 0.74-0.87 s this way; docs/benchmarks.md, "Session 13"). Plain
    commands rather than a script over many keys: a script's HGETALLs cost Redis three
    times the CPU, and Redis is the one thread that every process reading part of the
    fleet shares (bench-feeds, 50,000 runs); nor do they hold Redis for a whole call
    while the writers wait."""
    pool = client.connection_pool
    connection = pool.get_connection()
    try:
        connection.connect()  # a no-op unless the pool handed over a closed one
        encoder = connection.encoder
        reader = hiredis.Reader(
            encoding=encoder.encoding if encoder.decode_responses else None,
            errors=encoder.encoding_errors,
        )
        sock = connection._sock  # redis-py's: see the docstring
        buffer = bytearray(_RECEIVE_BYTES)
        replies: list = []
        pending = iter(commands)
        batch = list(itertools.islice(pending, COMMANDS_PER_WRITE))
        while batch:
            connection.send_packed_command([b"".join(batch)])
            wanted = len(replies) + len(batch)
            while len(replies) < wanted:
                reply = reader.gets()
                if reply is False:
                    received = sock.recv_into(buffer)
                    if not received:
                        raise redis.ConnectionError("Redis closed the connection mid-read")
                    reader.feed(buffer, 0, received)
                elif isinstance(reply, hiredis.ReplyError):
                    raise redis.ResponseError(str(reply))
                else:
                    replies.append(reply)
            batch = list(itertools.islice(pending, COMMANDS_PER_WRITE))
        return replies
    except BaseException:
        # Replies may be left unread on it: this connection is not reused.
        connection.disconnect()
        raise
    finally:
        pool.release(connection)


def _bulk(text: str) -> bytes:
    data = text.encode()
    return b"$%d\r\n%s\r\n" % (len(data), data)


def _hgetall_command(key: str) -> bytes:
    return b"*2\r\n$7\r\nHGETALL\r\n" + _bulk(key)


_T = TypeVar("_T")


def _as_dict(pairs: list[str]) -> dict[str, str]:
    """A flattened HGETALL reply as a dict (one iterator zipped with itself: no slices)."""
    fields = iter(pairs)
    return dict(zip(fields, fields, strict=True))


def _groups(items: Sequence[_T], size: int) -> Iterator[tuple[_T, ...]]:
    for start in range(0, len(items), size):
        yield tuple(items[start : start + size])
