"""Selectors: everything that reads run data (database and the live hot state).

Read by the REST API, the admin and the tasks; writes live in ``runs.services``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import redis
from django.db.models import QuerySet

from databus import keys
from runs.domain.telemetry import occupancy as occupancy_contract
from runs.domain.telemetry import position as position_contract
from runs.domain.telemetry import vehicle_stop_status as stop_status_contract
from runs.models import Run, RunLifecycleTransition, TripOperation, TripOperationAttempt, Vehicle
from schedule_engine.feeds.skips import RecordReader
from schedule_engine.feeds.snapshots import HotStateSkip
from schedule_engine.hot_state_read import records_read

# The ``feed`` label of the hot-state records the REST API could not use.
API_FEED = "api"


@dataclass(frozen=True)
class RunScope:
    """The runs a reader may see: every run (dispatchers), or one operator's own runs.

    Outside its scope a run does not exist for the reader (the API answers 404, never 403:
    a run id says nothing about a run its reader may not see)."""

    every_run: bool = False
    operator_id: int | None = None  # ``None`` without ``every_run``: no runs at all

    def filter(self, runs: QuerySet[Run]) -> QuerySet[Run]:
        if self.every_run:
            return runs
        if self.operator_id is None:
            return runs.none()
        return runs.filter(operator_id=self.operator_id)


EVERY_RUN = RunScope(every_run=True)


def run_list(
    *,
    scope: RunScope,
    state: str | None = None,
    route_id: str | None = None,
    vehicle_id: str | None = None,
    start_date: dt.date | None = None,
) -> QuerySet[Run]:
    runs = scope.filter(Run.objects.select_related("vehicle", "operator__user"))
    if state:
        runs = runs.filter(run_lifecycle_state=state)
    if route_id:
        runs = runs.filter(route_id=route_id)
    if vehicle_id:
        runs = runs.filter(vehicle_id=vehicle_id)
    if start_date:
        runs = runs.filter(start_date=start_date)
    return runs


def run_get(*, run_id, scope: RunScope) -> Run | None:
    runs = scope.filter(Run.objects.select_related("vehicle", "operator__user"))
    return runs.filter(pk=run_id).first()


def run_visible(*, run_id: str, scope: RunScope) -> bool:
    return scope.filter(Run.objects.filter(pk=run_id)).exists()


def run_history_get(*, run_id) -> QuerySet[RunLifecycleTransition]:
    return RunLifecycleTransition.objects.filter(run_id=run_id).select_related("actor")


def run_hot_state_get(client: redis.Redis, *, run_id) -> dict[str, str]:
    """The ``run:{rid}`` projection as stored in hot state (empty when not projected)."""
    return client.hgetall(keys.run(str(run_id)))


def trip_operation_list_active(
    *, kind: str | None = None, trip_id: str | None = None, now: dt.datetime | None = None
) -> QuerySet[TripOperation]:
    """Trip operations published now or later: not ended, not past their time bound."""
    now = now or dt.datetime.now(dt.UTC)
    operations = TripOperation.objects.filter(ended_at__isnull=True, active_until__gt=now)
    if kind:
        operations = operations.filter(kind=kind)
    if trip_id:
        operations = operations.filter(trip_id=trip_id)
    return operations.order_by("active_from", "id")


def trip_operation_history_get(*, operation_id: int) -> QuerySet[TripOperationAttempt]:
    return TripOperationAttempt.objects.filter(operation_id=operation_id).select_related("actor")


def vehicle_list() -> QuerySet[Vehicle]:
    return Vehicle.objects.select_related("company")


def vehicle_get(*, vehicle_id: str) -> Vehicle | None:
    return Vehicle.objects.select_related("company").filter(pk=vehicle_id).first()


def vehicle_ids_get() -> frozenset[str]:
    """Every registered vehicle id, in one query: what ingest trusts (its vehicle registry)."""
    return frozenset(Vehicle.objects.order_by().values_list("pk", flat=True))


def vehicle_admission_get() -> dict[str, str | None]:
    """Every registered vehicle id with its tracker IMEI (None without one), in one query:
    what ingest trusts and how it maps a Streams record's device to its vehicle."""
    return dict(Vehicle.objects.order_by().values_list("pk", "tracker_imei"))


@dataclass(frozen=True)
class VehicleLiveState:
    position: position_contract.Position | None
    occupancy: occupancy_contract.Occupancy | None
    current_run_id: str | None
    stop_status: stop_status_contract.VehicleStopStatus | None


def vehicle_live_state_get(client: redis.Redis, *, vehicle_id: str) -> VehicleLiveState:
    """Position, occupancy, current run and its stop status, in two reads at most of the one
    hot-state reader (``schedule_engine.hot_state_read``).

    A stored record the contracts cannot use reads as absent (and is counted and logged
    once, ``schedule_engine.feeds.skips``); a value out of its bounds is left out."""
    (vehicle,) = records_read(client, vehicle_ids=[vehicle_id]).vehicles
    run_id = vehicle.current_run or None
    reader = RecordReader(API_FEED)
    stop_status = None
    if run_id:
        status_fields = records_read(client, run_ids=[run_id]).runs[run_id].stop_status
        stop_status = reader.use(
            keys.run_vehicle_stop_status(run_id),
            stop_status_contract.read_stored(status_fields),
            status_fields,
            HotStateSkip.BAD_STOP_STATUS,
        )
    return VehicleLiveState(
        position=reader.use(
            keys.vehicle_position(vehicle_id),
            position_contract.read_stored(vehicle_id, vehicle.position),
            vehicle.position,
            HotStateSkip.BAD_POSITION,
        ),
        occupancy=reader.use(
            keys.vehicle_occupancy(vehicle_id),
            occupancy_contract.read_stored(vehicle_id, vehicle.occupancy),
            vehicle.occupancy,
            HotStateSkip.BAD_OCCUPANCY,
        ),
        current_run_id=run_id,
        stop_status=stop_status,
    )
