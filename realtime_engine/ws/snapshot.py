"""Read the current hot state for a topic: what a client gets on subscribe.

Reads (never writes) the hashes of DESIGN.md's hot-state table through ``databus.keys``:
vehicles' position/occupancy, their current run, runs' projection, stop status and
predictions (the next stop not yet passed).
Synchronous: the consumer runs it in a worker thread. Used by ``consumer``.
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
from runs.domain.telemetry import occupancy, position, stop_time_updates, vehicle_stop_status

RUN_STATE_FIELD = "run_lifecycle_state"


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


def _next_stop(fields: dict[str, str]) -> NextStopView | None:
    stored = stop_time_updates.from_redis(fields) if fields else None
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


def run_views_read(client: redis.Redis, run_ids: Iterable[str]) -> list[RunView]:
    """Runs that have a projection, in the order given (missing ones left out)."""
    run_ids = list(dict.fromkeys(run_ids))
    pipe = client.pipeline(transaction=False)
    for rid in run_ids:
        pipe.hgetall(keys.run(rid))
        pipe.hgetall(keys.run_vehicle_stop_status(rid))
        pipe.hgetall(keys.run_stop_time_updates(rid))
    values = pipe.execute() if run_ids else []
    views = []
    for index, rid in enumerate(run_ids):
        projection, status_fields, update_fields = values[3 * index : 3 * index + 3]
        if not projection:
            continue
        status = vehicle_stop_status.from_redis(status_fields) if status_fields else None
        views.append(
            RunView(
                run_id=rid,
                state=projection.get(RUN_STATE_FIELD, ""),
                vehicle_id=projection.get("vehicle_id") or None,
                route_id=projection.get("route_id") or None,
                trip_id=projection.get("trip_id") or None,
                start_date=projection.get("start_date") or None,
                start_time=projection.get("start_time") or None,
                stop_status=None
                if status is None
                else StopStatusView(
                    current_status=status.current_status.value,
                    timestamp=status.timestamp,
                    current_stop_sequence=status.current_stop_sequence,
                    stop_id=status.stop_id,
                ),
                next_stop=_next_stop(update_fields),
            )
        )
    return views


def vehicle_updates_read(
    client: redis.Redis, vehicle_ids: list[str], runs: dict[str, RunView]
) -> list[VehicleUpdate]:
    """Vehicles with a stored position or occupancy; ``runs`` gives each one's run and route."""
    pipe = client.pipeline(transaction=False)
    for vid in vehicle_ids:
        pipe.hgetall(keys.vehicle_position(vid))
        pipe.hgetall(keys.vehicle_occupancy(vid))
    values = pipe.execute() if vehicle_ids else []
    updates = []
    for index, vid in enumerate(vehicle_ids):
        where = position.from_redis(vid, values[2 * index])
        load = occupancy.from_redis(vid, values[2 * index + 1]) if values[2 * index + 1] else None
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
