"""The current hot state of a topic: what a client gets on subscribe.

Reads (never writes) through the one hot-state reader, ``schedule_engine.hot_state_read``:
the vehicles and runs a topic holds, as raw hashes. What is here is the choice of those
records per topic and the pure decoding of them through the contracts into the views
(vehicles' position and occupancy, runs' projection, stop status and next stop not yet
passed), and of the active service alerts the caller read (``alerts``: which of them a
topic lists). A snapshot of ``all`` does not share the feed build's ``fleet_read``: its runs
are those claiming a vehicle or in the tracking sets (not the cancelled ones), and it
writes nothing. Synchronous: the consumer runs it in a worker thread. Used by ``consumer``.

One bad record never costs a client its snapshot: what a contract cannot use is left
out (the vehicle without a usable position and occupancy, a run's stop status or next
stop), and anything else that fails for one entity leaves that entity out; each is
counted and logged once per key (``schedule_engine.feeds.skips``, feed ``ws_snapshot``).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence

import redis

from databus import keys
from databus.notify import AlertChanged
from realtime_engine.ws.alerts import snapshot_alerts
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
from schedule_engine.feeds.skips import RecordReader, SkipTally
from schedule_engine.feeds.snapshots import HotStateSkip
from schedule_engine.hot_state_read import (
    RunHotState,
    VehicleHotState,
    claimed_or_active_run_ids_read,
    located_vehicle_ids_read,
    records_read,
)

# The ``feed`` label of what a snapshot leaves out.
WS_SNAPSHOT_FEED = "ws_snapshot"


def _next_stop(reader: RecordReader, run_id: str, fields: Mapping[str, str]) -> NextStopView | None:
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
    status_fields: Mapping[str, str],
    update_fields: Mapping[str, str],
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


def run_views(reader: RecordReader, runs: Iterable[RunHotState]) -> list[RunView]:
    """Runs that have a projection, in the order given (missing or unusable ones left out)."""
    views = []
    for run in runs:
        rid = run.run_id
        try:
            projection = run_contract.from_redis(rid, run.projection)
            if projection is None:
                continue
            views.append(_run_view(reader, projection, run.stop_status, run.stop_time_updates))
        except (ValueError, TypeError) as error:
            reader.report(keys.run(rid), HotStateSkip.BAD_RUN, f"{type(error).__name__}: {error}")
    return views


def vehicle_updates(
    reader: RecordReader, vehicles: Iterable[VehicleHotState], runs: Mapping[str, RunView]
) -> list[VehicleUpdate]:
    """Vehicles with a usable stored position or occupancy, in the order given; ``runs``
    gives each one's run and route."""
    updates = []
    for vehicle in vehicles:
        vid = vehicle.vehicle_id
        where = reader.use(
            keys.vehicle_position(vid),
            position.read_stored(vid, vehicle.position),
            vehicle.position,
            HotStateSkip.BAD_POSITION,
        )
        load = (
            reader.use(
                keys.vehicle_occupancy(vid),
                occupancy.read_stored(vid, vehicle.occupancy),
                vehicle.occupancy,
                HotStateSkip.BAD_OCCUPANCY,
            )
            if vehicle.occupancy
            else None
        )
        if where is None and load is None:
            continue
        run = runs.get(vid)
        updates.append(vehicle_update(vid, where, load, run and run.run_id, run and run.route_id))
    return updates


def snapshot_read(
    client: redis.Redis, topic: Topic, alerts: Sequence[AlertChanged] = ()
) -> Snapshot:
    """The current vehicles and runs of ``topic``, and which of the active ``alerts`` it lists.

    The runs of ``all`` (and of a route) are those claiming a vehicle and those in the
    tracking sets; the vehicles are those with a stored position. ``alerts`` holds only
    alerts, no vehicle or run.
    """
    tally = SkipTally()  # a snapshot of ``all`` reads the whole fleet: one count at the end
    reader = RecordReader(WS_SNAPSHOT_FEED, tally)
    vehicles: Iterable[VehicleHotState]
    if topic.kind is TopicKind.ALERTS:
        vehicles, runs = [], []
    elif topic.kind is TopicKind.VEHICLE:
        vehicles = records_read(client, vehicle_ids=[topic.ident]).vehicles
        claims = [vehicle.current_run for vehicle in vehicles if vehicle.current_run]
        runs = run_views(reader, records_read(client, run_ids=claims).runs.values())
    elif topic.kind is TopicKind.RUN:
        runs = run_views(reader, records_read(client, run_ids=[topic.ident]).runs.values())
        located = sorted({run.vehicle_id for run in runs if run.vehicle_id})
        vehicles = records_read(client, vehicle_ids=located).vehicles
    else:
        records = records_read(
            client,
            vehicle_ids=located_vehicle_ids_read(client),
            run_ids=claimed_or_active_run_ids_read(client),
        )
        runs = run_views(reader, records.runs.values())
        vehicles = records.vehicles
        if topic.kind is TopicKind.ROUTE:
            runs = [run for run in runs if run.route_id == topic.ident]
    run_by_vehicle = {run.vehicle_id: run for run in runs if run.vehicle_id}
    if topic.kind is TopicKind.ROUTE:
        vehicles = [vehicle for vehicle in vehicles if vehicle.vehicle_id in run_by_vehicle]
    snapshot = Snapshot(
        topic=str(topic),
        vehicles=vehicle_updates(reader, vehicles, run_by_vehicle),
        runs=runs,
        at=time.time(),
        alerts=snapshot_alerts(topic, alerts),
    )
    tally.flush(client)
    return snapshot
