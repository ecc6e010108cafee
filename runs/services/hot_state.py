"""The run's hot state in Redis: performing lifecycle actions, and undoing them.

Each ``Action`` is one idempotent function writing into a MULTI/EXEC pipeline from the
run as stored. ``capture`` reads the pre-image of every key a run's actions can touch
so that ``restore`` can put it back when the database transaction does not commit.
Key names come from ``databus.keys`` only; hash fields from the contracts
(``runs.domain.projections``, ``runs.domain.telemetry``).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import redis
from django.conf import settings

from databus import keys
from runs.domain.lifecycle.actions import Action
from runs.domain.lifecycle.states import RunState
from runs.domain.projections import run as run_contract
from runs.domain.projections import vehicle_metadata as metadata_contract
from runs.domain.telemetry import trip as trip_contract
from runs.models import Run, Vehicle
from runs.services.schedule import trip_scheduled_end_get

# A finished run's projection stays readable (state API, feeds: a CANCELED trip) this long.
FINISHED_PROJECTION_TTL_S = 6 * 3600

# Delete a claim only if it still names this run (another run may hold it since).
_RELEASE_IF_OWNED = """
for i, key in ipairs(KEYS) do
  if redis.call('GET', key) == ARGV[1] then redis.call('DEL', key) end
end
return 1
"""


def _claim_keys(run: Run) -> list[str]:
    claims = [keys.vehicle_current_run(run.vehicle_id), keys.trip_current_run(run.trip_id)]
    if run.operator_id is not None:
        claims.append(keys.operator_current_run(str(run.operator_id)))
    return claims


def run_projection(run: Run) -> run_contract.RunProjection:
    """The run as its ``run:{rid}`` projection holds it."""
    return run_contract.RunProjection(
        run_id=str(run.pk),
        vehicle_id=run.vehicle_id,
        state=RunState(run.run_lifecycle_state),
        trip_id=run.trip_id,
        route_id=run.route_id or None,
        operator_id=None if run.operator_id is None else str(run.operator_id),
        shape_id=run.shape_id or None,
        direction_id=run.direction_id,
        start_date=run.start_date.strftime("%Y%m%d"),
        start_time=run.start_time or None,
        schedule_relationship=trip_contract.ScheduleRelationship(run.schedule_relationship),
        last_event_at=None if run.last_event_at is None else run.last_event_at.timestamp(),
    )


def trip_descriptor(run: Run) -> dict[str, str]:
    """The GTFS-RT TripDescriptor projection ``run:{rid}:trip`` (checked by its contract)."""
    return trip_contract.validate_for_write(
        trip_contract.TripDescriptor(
            trip_id=run.trip_id,
            route_id=run.route_id or None,
            direction_id=run.direction_id,
            start_time=run.start_time or None,
            start_date=run.start_date.strftime("%Y%m%d"),
            schedule_relationship=trip_contract.ScheduleRelationship(run.schedule_relationship),
        )
    )


def vehicle_metadata(run: Run) -> metadata_contract.VehicleMetadata:
    """The run's vehicle as ``vehicle:{vid}:metadata`` holds it."""
    return vehicle_metadata_of(run.vehicle)


def vehicle_metadata_of(vehicle: Vehicle) -> metadata_contract.VehicleMetadata:
    """A vehicle as ``vehicle:{vid}:metadata`` holds it."""
    return metadata_contract.VehicleMetadata(
        vehicle_id=vehicle.pk,
        label=vehicle.label or None,
        license_plate=vehicle.license_plate or None,
        wheelchair_accessible=vehicle.wheelchair_accessible,
    )


def _write_projection(pipe, run: Run) -> None:
    pipe.delete(keys.run(str(run.pk)), keys.run_trip(str(run.pk)))
    pipe.hset(keys.run(str(run.pk)), mapping=run_contract.validate_for_write(run_projection(run)))
    pipe.hset(keys.run_trip(str(run.pk)), mapping=trip_descriptor(run))


def _claim_resources(pipe, run: Run) -> None:
    for key in _claim_keys(run):
        pipe.set(key, str(run.pk))


def _write_vehicle_metadata(pipe, run: Run) -> None:
    vehicle_metadata_write(pipe, run.vehicle)


def vehicle_metadata_write(pipe, vehicle: Vehicle) -> None:
    """``vehicle:{vid}:metadata`` from the row (also for the vehicle of an added trip)."""
    pipe.hset(
        keys.vehicle_metadata(vehicle.pk),
        mapping=metadata_contract.validate_for_write(vehicle_metadata_of(vehicle)),
    )


def vehicle_claim_release(client: redis.Redis, vehicle_id: str, run_id: str) -> None:
    """The vehicle a run left (``change_vehicle``): its claim goes if it still names the run,
    and the feeds re-read the vehicle (its VehiclePosition no longer carries the run)."""
    pipe = client.pipeline(transaction=True)
    pipe.eval(_RELEASE_IF_OWNED, 1, keys.vehicle_current_run(vehicle_id), run_id)
    pipe.sadd(keys.FEED_DIRTY_VEHICLES, vehicle_id)
    pipe.execute()


def _sync_state(pipe, run: Run) -> None:
    projection = run_contract.validate_for_write(run_projection(run))
    pipe.hset(
        keys.run(str(run.pk)),
        mapping={name: projection[name] for name in run_contract.STATE_FIELDS},
    )


def _add_to_tracking(pipe, run: Run) -> None:
    pipe.sadd(keys.RUNS_TRACKING, str(run.pk))


def _add_to_in_progress(pipe, run: Run) -> None:
    pipe.sadd(keys.RUNS_IN_PROGRESS, str(run.pk))


def _remove_from_in_progress(pipe, run: Run) -> None:
    pipe.srem(keys.RUNS_IN_PROGRESS, str(run.pk))


def _remove_from_sets(pipe, run: Run) -> None:
    pipe.srem(keys.RUNS_TRACKING, str(run.pk))
    pipe.srem(keys.RUNS_IN_PROGRESS, str(run.pk))
    pipe.zrem(keys.RUNS_LAST_SEEN, str(run.pk))


def _expire_projection(pipe, run: Run) -> None:
    for key in (keys.run(str(run.pk)), keys.run_trip(str(run.pk))):
        pipe.expire(key, FINISHED_PROJECTION_TTL_S)


def cancellation_published_until(run: Run, now: float) -> float:
    """Until when (POSIX s, the score in ``runs:canceled``) the run's trip is published as
    CANCELED: its scheduled end on its own service date (``start_date``, agency time zone)
    plus ``CANCELED_TRIP_PUBLISH_MARGIN_S``. In the past for a trip whose day is over: then
    it is never published. A trip the current feed lacks (the feeds leave it out anyway)
    gets the margin from now."""
    margin = settings.CANCELED_TRIP_PUBLISH_MARGIN_S
    end = trip_scheduled_end_get(run.trip_id, run.start_date, run.start_time)
    return (now if end is None else end) + margin


def _publish_cancellation(pipe, run: Run) -> None:
    _write_projection(pipe, run)
    now = time.time()
    until = cancellation_published_until(run, now)
    pipe.zadd(keys.RUNS_CANCELED, {str(run.pk): until})
    # The projection must outlive its publication (a trip cancelled hours ahead).
    ttl_s = max(FINISHED_PROJECTION_TTL_S, math.ceil(until - now))
    for key in (keys.run(str(run.pk)), keys.run_trip(str(run.pk))):
        pipe.expire(key, ttl_s)


def _release_resources(pipe, run: Run) -> None:
    claims = _claim_keys(run)
    pipe.eval(_RELEASE_IF_OWNED, len(claims), *claims, str(run.pk))


ACTIONS: dict[Action, Callable[[object, Run], None]] = {
    Action.WRITE_PROJECTION: _write_projection,
    Action.CLAIM_RESOURCES: _claim_resources,
    Action.WRITE_VEHICLE_METADATA: _write_vehicle_metadata,
    Action.SYNC_STATE: _sync_state,
    Action.ADD_TO_TRACKING: _add_to_tracking,
    Action.ADD_TO_IN_PROGRESS: _add_to_in_progress,
    Action.REMOVE_FROM_IN_PROGRESS: _remove_from_in_progress,
    Action.REMOVE_FROM_SETS: _remove_from_sets,
    Action.EXPIRE_PROJECTION: _expire_projection,
    Action.PUBLISH_CANCELLATION: _publish_cancellation,
    Action.RELEASE_RESOURCES: _release_resources,
}


def mark_for_feeds(pipe, run: Run) -> None:
    """The feed build re-reads this run and its vehicle (every action touches one of them);
    also queued by the hot-state rebuild beside the actions it performs."""
    pipe.sadd(keys.FEED_DIRTY_RUNS, str(run.pk))
    pipe.sadd(keys.FEED_DIRTY_VEHICLES, run.vehicle_id)


def apply(client: redis.Redis, run: Run, actions: Iterable[Action]) -> None:
    """Perform ``actions`` for ``run`` atomically (one MULTI/EXEC)."""
    actions = tuple(actions)
    if not actions:
        return
    pipe = client.pipeline(transaction=True)
    for action in actions:
        ACTIONS[action](pipe, run)
    mark_for_feeds(pipe, run)
    pipe.execute()


@dataclass(frozen=True)
class HotStateImage:
    """The values of every key a run's actions touch, as they were before."""

    run: Run
    hashes: dict[str, dict[str, str]]
    strings: dict[str, str | None]
    members: dict[str, bool]
    last_seen: float | None
    canceled_until: float | None


def _hash_keys(run: Run) -> list[str]:
    return [
        keys.run(str(run.pk)),
        keys.run_trip(str(run.pk)),
        keys.vehicle_metadata(run.vehicle_id),
    ]


def capture(client: redis.Redis, run: Run) -> HotStateImage:
    hash_keys, claim_keys, rid = _hash_keys(run), _claim_keys(run), str(run.pk)
    pipe = client.pipeline(transaction=False)
    for key in hash_keys:
        pipe.hgetall(key)
    for key in claim_keys:
        pipe.get(key)
    pipe.sismember(keys.RUNS_TRACKING, rid)
    pipe.sismember(keys.RUNS_IN_PROGRESS, rid)
    pipe.zscore(keys.RUNS_LAST_SEEN, rid)
    pipe.zscore(keys.RUNS_CANCELED, rid)
    values = pipe.execute()
    n = len(hash_keys)
    m = len(claim_keys)
    return HotStateImage(
        run=run,
        hashes=dict(zip(hash_keys, values[:n], strict=True)),
        strings=dict(zip(claim_keys, values[n : n + m], strict=True)),
        members={
            keys.RUNS_TRACKING: bool(values[n + m]),
            keys.RUNS_IN_PROGRESS: bool(values[n + m + 1]),
        },
        last_seen=values[n + m + 2],
        canceled_until=values[n + m + 3],
    )


def restore(client: redis.Redis, image: HotStateImage) -> None:
    """Put every captured key back as it was (compensation for an aborted transaction)."""
    rid = str(image.run.pk)
    pipe = client.pipeline(transaction=True)
    for key, mapping in image.hashes.items():
        pipe.delete(key)
        if mapping:
            pipe.hset(key, mapping=mapping)
    for key, value in image.strings.items():
        if value is None:
            pipe.delete(key)
        else:
            pipe.set(key, value)
    for key, member in image.members.items():
        if member:
            pipe.sadd(key, rid)
        else:
            pipe.srem(key, rid)
    if image.last_seen is None:
        pipe.zrem(keys.RUNS_LAST_SEEN, rid)
    else:
        pipe.zadd(keys.RUNS_LAST_SEEN, {rid: image.last_seen})
    if image.canceled_until is None:
        pipe.zrem(keys.RUNS_CANCELED, rid)
    else:
        pipe.zadd(keys.RUNS_CANCELED, {rid: image.canceled_until})
    mark_for_feeds(pipe, image.run)
    pipe.execute()
