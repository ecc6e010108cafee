"""Read the current hot state for a topic: what a client gets on subscribe.

Reads (never writes) the hashes of DESIGN.md's hot-state table through ``databus.keys``:
vehicles' position/occupancy, their current run, runs' projection, stop status and
predictions (the next stop not yet passed).
Synchronous: the consumer runs it in a worker thread. Used by ``consumer``.

One bad record never costs a client its snapshot: what a contract cannot use is left
out (the vehicle without a usable position and occupancy, a run's stop status or next
stop), and anything else that fails for one entity leaves that entity out; each is
counted and logged once per key (``schedule_engine.feeds.skips``, feed ``ws_snapshot``).
"""

from __future__ import annotations

import time
from collections.abc import Iterable

import redis

from databus import keys
from realtime_engine.ws.groups import Topic, TopicKind
from realtime_engine.ws.messages import (
    NextStopView,
    RunView,
    Snapshot,
    StopStatusView,
    VehicleUpdate,
    vehicle_update,
)
from runs.domain.projections import run as run_contract
from runs.domain.telemetry import occupancy, position, stop_time_updates, vehicle_stop_status
from schedule_engine.feeds.skips import RecordReader
from schedule_engine.feeds.snapshots import HotStateSkip

# The ``feed`` label of what a snapshot leaves out.
WS_SNAPSHOT_FEED = "ws_snapshot"


def _all_vehicle_ids(client: redis.Redis) -> list[str]:
    return [
        keys.vehicle_id_of_position_key(key)
        for key in client.scan_iter(match=keys.VEHICLE_POSITION_PATTERN, count=1000)
    ]


def _current_runs(client: redis.Redis, vehicle_ids: list[str]) -> dict[str, str]:
    if not vehicle_ids:
        return {}
    run_ids = client.mget([keys.vehicle_current_run(vid) for vid in vehicle_ids])
    return {vid: rid for vid, rid in zip(vehicle_ids, run_ids, strict=True) if rid}


def _next_stop(reader: RecordReader, run_id: str, fields: dict[str, str]) -> NextStopView | None:
    stored = reader.read(
        keys.run_stop_time_updates(run_id),
        fields,
        stop_time_updates.read_stored,
        HotStateSkip.BAD_STOP_TIME_UPDATES,
    )
    for update in stored.updates if stored else ():
        if not update.observed:
            return NextStopView(
                stop_sequence=update.stop_sequence,
                stop_id=update.stop_id,
                arrival=update.arrival,
                departure=update.departure,
                uncertainty_s=update.uncertainty_s,
            )
    return None


def _run_view(
    reader: RecordReader,
    projection: run_contract.RunProjection,
    status_fields: dict[str, str],
    update_fields: dict[str, str],
) -> RunView:
    run_id = projection.run_id
    status = reader.read(
        keys.run_vehicle_stop_status(run_id),
        status_fields,
        vehicle_stop_status.read_stored,
        HotStateSkip.BAD_STOP_STATUS,
    )
    return RunView(
        run_id=run_id,
        state="" if projection.state is None else projection.state.value,
        vehicle_id=projection.vehicle_id,
        route_id=projection.route_id,
        trip_id=projection.trip_id,
        start_date=projection.start_date,
        start_time=projection.start_time,
        stop_status=None
        if status is None
        else StopStatusView(
            current_status=status.current_status.value,
            timestamp=status.timestamp,
            current_stop_sequence=status.current_stop_sequence,
            stop_id=status.stop_id,
        ),
        next_stop=_next_stop(reader, run_id, update_fields),
    )


def run_views_read(client: redis.Redis, run_ids: Iterable[str]) -> list[RunView]:
    """Runs that have a projection, in the order given (missing or unusable ones left out)."""
    run_ids = list(dict.fromkeys(run_ids))
    pipe = client.pipeline(transaction=False)
    for rid in run_ids:
        pipe.hgetall(keys.run(rid))
        pipe.hgetall(keys.run_vehicle_stop_status(rid))
        pipe.hgetall(keys.run_stop_time_updates(rid))
    values = pipe.execute() if run_ids else []
    reader = RecordReader(WS_SNAPSHOT_FEED)
    views = []
    for index, rid in enumerate(run_ids):
        projection_fields, status_fields, update_fields = values[3 * index : 3 * index + 3]
        try:
            projection = run_contract.from_redis(rid, projection_fields)
            if projection is None:
                continue
            views.append(_run_view(reader, projection, status_fields, update_fields))
        except (ValueError, TypeError) as error:
            reader.report(keys.run(rid), HotStateSkip.BAD_RUN, f"{type(error).__name__}: {error}")
    return views


def vehicle_updates_read(
    client: redis.Redis, vehicle_ids: list[str], runs: dict[str, RunView]
) -> list[VehicleUpdate]:
    """Vehicles with a usable stored position or occupancy; ``runs`` gives each one's run
    and route."""
    pipe = client.pipeline(transaction=False)
    for vid in vehicle_ids:
        pipe.hgetall(keys.vehicle_position(vid))
        pipe.hgetall(keys.vehicle_occupancy(vid))
    values = pipe.execute() if vehicle_ids else []
    reader = RecordReader(WS_SNAPSHOT_FEED)
    updates = []
    for index, vid in enumerate(vehicle_ids):
        position_fields, occupancy_fields = values[2 * index], values[2 * index + 1]
        where = reader.use(
            keys.vehicle_position(vid),
            position.read_stored(vid, position_fields),
            position_fields,
            HotStateSkip.BAD_POSITION,
        )
        load = (
            reader.use(
                keys.vehicle_occupancy(vid),
                occupancy.read_stored(vid, occupancy_fields),
                occupancy_fields,
                HotStateSkip.BAD_OCCUPANCY,
            )
            if occupancy_fields
            else None
        )
        if where is None and load is None:
            continue
        run = runs.get(vid)
        updates.append(vehicle_update(vid, where, load, run and run.run_id, run and run.route_id))
    return updates


def snapshot_read(client: redis.Redis, topic: Topic) -> Snapshot:
    """The current vehicles and runs of ``topic``.

    The runs of ``all`` (and of a route) are those claiming a vehicle and those in the
    tracking sets; the vehicles are those with a stored position.
    """
    if topic.kind is TopicKind.VEHICLE:
        vehicle_ids = [topic.ident]
        run_ids = list(_current_runs(client, vehicle_ids).values())
    elif topic.kind is TopicKind.RUN:
        run_ids = [topic.ident]
        vehicle_ids = []
    else:
        vehicle_ids = _all_vehicle_ids(client)
        claims = list(client.scan_iter(match=keys.VEHICLE_CURRENT_RUN_PATTERN, count=1000))
        claimed = client.mget(claims) if claims else []
        active = client.sunion(keys.RUNS_TRACKING, keys.RUNS_IN_PROGRESS)
        run_ids = sorted({rid for rid in claimed if rid} | set(active))
    runs = run_views_read(client, run_ids)
    if topic.kind is TopicKind.ROUTE:
        runs = [run for run in runs if run.route_id == topic.ident]
    run_by_vehicle = {run.vehicle_id: run for run in runs if run.vehicle_id}
    if topic.kind is TopicKind.RUN:
        vehicle_ids = list(run_by_vehicle)
    elif topic.kind is TopicKind.ROUTE:
        vehicle_ids = [vid for vid in vehicle_ids if vid in run_by_vehicle]
    vehicles = vehicle_updates_read(client, sorted(vehicle_ids), run_by_vehicle)
    return Snapshot(topic=str(topic), vehicles=vehicles, runs=runs, at=time.time())
