"""The progression producer: a batch observer that map-matches each run's latest position.

Called by the MQTT consumer after a batch's hot state is safe (``BATCH_OBSERVERS``,
after the lifecycle dispatcher, so it sees the run states the batch produced). Per
batch, whatever its size:
- one Redis pipeline reads ``vehicle:{vid}:current_run`` of the batch's vehicles;
- one pipeline reads those runs' projections and matcher states;
- the pure matcher (``runs.domain.progression``) places each position of a Tracking
  (pre-trip) or In Progress run on its trip, with the trip geometry and stop times
  from in-process caches (no database query per position);
- one multi-row upsert writes the stop events the batch completed (before Redis, so
  a failed write leaves the matcher state behind and the next position re-derives
  the events);
- one pipeline writes every run's matcher state, ``vehicle_stop_status`` (absent
  while pre-trip: such a vehicle is not on-route), ``congestion_level`` and
  ``stop_time_updates``, each checked by its contract's ``validate_for_write``
  (they expire a day after the last write, so finished runs leave nothing behind).
Predictions start from the schedule deviation at the matched distance and use the
observed travel-time history of ``segment_history`` (refreshed every few minutes).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache

from django.conf import settings

from databus import keys
from realtime_engine.ingest.batch import AcceptedBatch
from realtime_engine.segment_history import (
    SegmentHistoryView,
    StopSegmentHistory,
    segment_history_get,
)
from realtime_engine.stop_events import RunStopEvent, stop_events_write
from realtime_engine.trip_schedules import TripSchedule, trip_schedule_get
from realtime_engine.ws.fanout import publish_stop_status
from runs.domain.geometry import TripGeometry
from runs.domain.lifecycle.states import RunState
from runs.domain.prediction.inputs import schedule_deviation_s
from runs.domain.prediction.predictor import ObservedStop, ScheduledStop, predict_stop_times
from runs.domain.progression.config import ProgressionConfig
from runs.domain.progression.congestion import congestion_level
from runs.domain.progression.matching import Fix, MatchStep, Progress, match_position, progress_of
from runs.domain.progression.state import MatchState
from runs.domain.progression.status import Phase
from runs.domain.telemetry import congestion_level as congestion_contract
from runs.domain.telemetry import stop_time_updates as updates_contract
from runs.domain.telemetry import vehicle_stop_status as stop_status_contract
from runs.domain.telemetry.position import Position
from runs.domain.telemetry.rejection import TelemetryRejected
from runs.domain.telemetry.vehicle_stop_status import VehicleStopStatus
from schedule_engine.gtfs_import.errors import FieldError
from schedule_engine.gtfs_import.fields import parse_time
from schedule_engine.selectors import trip_geometry_get

logger = logging.getLogger(__name__)

# Tracking: the vehicle may still be laying over (the pre-trip state); In Progress: on its trip.
MATCHED_STATES = frozenset({RunState.TRACKING.value, RunState.IN_PROGRESS.value})
RUN_FIELDS = ("run_lifecycle_state", "trip_id", "start_date", "start_time")
# The keys written here outlive their run by at most this (refreshed on every write).
KEY_TTL_S = 24 * 3600


def progression_config() -> ProgressionConfig:
    """The stop-zone convention of this deployment (settings ``PROGRESSION_*``)."""
    max_speed = settings.PROGRESSION_STOPPED_MAX_SPEED_MPS
    return ProgressionConfig(
        stopped_radius_m=settings.PROGRESSION_STOPPED_RADIUS_M,
        incoming_radius_m=settings.PROGRESSION_INCOMING_RADIUS_M,
        stopped_max_speed_mps=None if max_speed < 0 else max_speed,
        max_speed_mps=settings.PROGRESSION_MAX_SPEED_MPS,
    )


@dataclass(frozen=True, slots=True)
class RunToMatch:
    run_id: str
    trip_id: str
    service_date: dt.date
    # The run's start_time minus its trip's first departure: non-zero for an instance of a
    # frequency-based trip, whose stop times are a template shifted to the instance.
    start_shift_s: int
    position: Position
    geometry: TripGeometry
    schedule: TripSchedule
    state: MatchState
    # Times already observed (kept from the run's previous stop_time_updates), by stop_sequence.
    observed: Mapping[int, ObservedStop]


@dataclass(frozen=True, slots=True)
class RunProgressed:
    run: RunToMatch
    step: MatchStep


def fix_of(position: Position) -> Fix:
    return Fix(
        timestamp=float(position.timestamp),
        latitude=position.latitude,
        longitude=position.longitude,
        speed_mps=position.speed,
        bearing_deg=position.bearing,
    )


def _service_date(text: str | None) -> dt.date | None:
    try:
        return dt.datetime.strptime(text or "", "%Y%m%d").date()
    except ValueError:
        return None


def start_shift_s(schedule: TripSchedule, start_time: str | None) -> int:
    """How far the run's instance departs after its trip's stop-time template (0 if unknown)."""
    try:
        instance_start = parse_time(start_time or "")
    except FieldError:
        return 0
    return instance_start - schedule.trip.stops[0].departure_s


def _runs_to_match(positions: Mapping[str, Position], redis_client) -> list[RunToMatch]:
    vehicle_ids = list(positions)
    pipe = redis_client.pipeline(transaction=False)
    for vehicle_id in vehicle_ids:
        pipe.get(keys.vehicle_current_run(vehicle_id))
    claimed = [(v, r) for v, r in zip(vehicle_ids, pipe.execute(), strict=True) if r]
    if not claimed:
        return []
    pipe = redis_client.pipeline(transaction=False)
    for _, run_id in claimed:
        pipe.hmget(keys.run(run_id), RUN_FIELDS)
        pipe.hgetall(keys.run_progression(run_id))
        pipe.hgetall(keys.run_stop_time_updates(run_id))
    replies = pipe.execute()
    runs = []
    for index, (vehicle_id, run_id) in enumerate(claimed):
        (state, trip_id, start_date, start_time), stored, published = replies[
            3 * index : 3 * index + 3
        ]
        if state not in MATCHED_STATES or not trip_id:
            continue
        service_date = _service_date(start_date)
        geometry = trip_geometry_get(trip_id)
        schedule = trip_schedule_get(trip_id, geometry)
        if service_date is None or geometry is None or schedule is None:
            continue  # no shape or no stop times: nothing to match against
        shift = start_shift_s(schedule, start_time)
        scheduled_start = schedule.scheduled_start(service_date) + shift
        runs.append(
            RunToMatch(
                run_id=run_id,
                trip_id=trip_id,
                service_date=service_date,
                start_shift_s=shift,
                position=positions[vehicle_id],
                geometry=geometry,
                schedule=schedule,
                state=MatchState.from_redis(stored, scheduled_start=scheduled_start),
                observed=_observed_of(published),
            )
        )
    return runs


def _observed_of(published: Mapping[str, str]) -> dict[int, ObservedStop]:
    updates = updates_contract.from_redis(published)
    if updates is None:
        return {}
    return {
        u.stop_sequence: ObservedStop(float(u.arrival or u.departure), u.departure)
        for u in updates.updates
        if u.observed
    }


@lru_cache(maxsize=4096)
def scheduled_stops(
    schedule: TripSchedule,
    service_date: dt.date,
    sequences: tuple[int, ...],
    start_shift_s: int = 0,
) -> tuple[ScheduledStop, ...] | None:
    """The trip's stops on its shape (``sequences``) in absolute time; None if one is unknown."""
    origin = schedule.origin(service_date) + start_shift_s
    by_sequence = {stop.stop_sequence: stop for stop in schedule.trip.stops}
    if any(sequence not in by_sequence for sequence in sequences):
        return None  # the shape's stops and the stop times disagree: nothing trustworthy
    return tuple(
        ScheduledStop(
            stop.stop_sequence,
            stop.stop_id,
            origin + stop.arrival_s,
            origin + stop.departure_s,
            stop.timepoint,
        )
        for stop in (by_sequence[sequence] for sequence in sequences)
    )


def observed_after(progressed: RunProgressed) -> dict[int, ObservedStop]:
    """The run's observed stops including those this position completed."""
    observed = dict(progressed.run.observed)
    for event in progressed.step.events:
        observed[event.stop_sequence] = ObservedStop(event.arrived_at, event.departed_at)
    return observed


def congestion_of(progressed: RunProgressed) -> congestion_contract.CongestionLevel | None:
    """The level of the last segment this position completed (None: none completed)."""
    run, events = progressed.run, progressed.step.events
    stops = scheduled_stops(
        run.schedule, run.service_date, run.geometry.stop_sequences, run.start_shift_s
    )
    if not events or stops is None:
        return None
    observed = observed_after(progressed)
    index = {stop.stop_sequence: i for i, stop in enumerate(stops)}
    last = index[events[-1].stop_sequence]
    if last == 0 or stops[last - 1].stop_sequence not in observed:
        return None
    before, after = observed[stops[last - 1].stop_sequence], observed[stops[last].stop_sequence]
    # Departure to departure (arrival where there is none: the terminal).
    observed_s = (after.departed_at or after.arrived_at) - (before.departed_at or before.arrived_at)
    scheduled_s = stops[last].departure - stops[last - 1].departure
    return congestion_contract.CongestionLevel(
        congestion_level=congestion_level(observed_s, scheduled_s),
        timestamp=run.position.timestamp,
    )


def predictions_of(
    progressed: RunProgressed, history: StopSegmentHistory
) -> updates_contract.StopTimeUpdates | None:
    """Observed times of the stops passed and predictions for the rest of the run's trip."""
    run, step = progressed.run, progressed.step
    geometry = run.geometry
    stops = scheduled_stops(
        run.schedule, run.service_date, geometry.stop_sequences, run.start_shift_s
    )
    if stops is None:
        return None
    observed = observed_after(progressed)
    at = float(run.position.timestamp)
    departed = step.progress.phase is Phase.ON_ROUTE
    delay = schedule_deviation_s(
        stops,
        geometry.stop_distances_m,
        distance_m=step.state.distance_m,
        at=at,
        departed=departed,
    )
    predictions = predict_stop_times(
        stops,
        next_index=step.progress.stop_index if departed else 0,
        now=at,
        delay_s=delay,
        observed=observed,
        history=SegmentHistoryView(history, dt.datetime.fromtimestamp(at, dt.UTC).hour),
    )
    return updates_contract.StopTimeUpdates(
        timestamp=run.position.timestamp,
        updates=tuple(
            updates_contract.StopTimeUpdate(
                stop_sequence=p.stop_sequence,
                stop_id=p.stop_id,
                arrival=p.arrival,
                departure=p.departure,
                uncertainty_s=None if p.observed else p.uncertainty_s,
                observed=p.observed,
            )
            for p in predictions
        ),
    )


def stop_status_of(progress: Progress, timestamp: int) -> VehicleStopStatus | None:
    """What is published of a progress: nothing while the vehicle is pre-trip (not on-route)."""
    if progress.phase is Phase.PRE_TRIP:
        return None
    return VehicleStopStatus(
        current_status=stop_status_contract.StopStatusCode(progress.status.value),
        timestamp=timestamp,
        current_stop_sequence=progress.stop_sequence,
        stop_id=progress.stop_id,
    )


def stop_status_changes(
    progressed: list[RunProgressed], config: ProgressionConfig
) -> list[tuple[RunProgressed, VehicleStopStatus]]:
    """The runs whose published stop status differs from the one before this position."""
    changed = []
    for item in progressed:
        run, after = item.run, item.step.progress
        before = progress_of(run.geometry, run.state, run.state.speed_mps, config)
        status = stop_status_of(after, run.position.timestamp)
        if status is not None and (before.phase, before.status, before.stop_sequence) != (
            after.phase,
            after.status,
            after.stop_sequence,
        ):
            changed.append((item, status))
    return changed


def _stop_status_fields(progressed: RunProgressed) -> dict[str, str] | None:
    status = stop_status_of(progressed.step.progress, progressed.run.position.timestamp)
    return stop_status_contract.validate_for_write(status) if status else None


def _replace_hash(pipe, key: str, fields: Mapping[str, str] | None) -> None:
    pipe.delete(key)
    if fields:
        pipe.hset(key, mapping=fields)
        pipe.expire(key, KEY_TTL_S)


def _write_hot_state(
    redis_client, progressed: list[RunProgressed], history: StopSegmentHistory
) -> None:
    pipe = redis_client.pipeline(transaction=False)
    for item in progressed:
        run_id = item.run.run_id
        pipe.hset(keys.run_progression(run_id), mapping=item.step.state.to_redis())
        pipe.expire(keys.run_progression(run_id), KEY_TTL_S)
        try:
            stop_status = _stop_status_fields(item)
            updates = predictions_of(item, history)
            update_fields = updates_contract.validate_for_write(updates) if updates else None
            congestion = congestion_of(item)
            congestion_fields = (
                congestion_contract.validate_for_write(congestion) if congestion else None
            )
        except TelemetryRejected as error:
            # The matcher state still advances; the published values stay as they were.
            logger.warning("progression: run %s not published: %s", run_id, error)
            continue
        _replace_hash(pipe, keys.run_vehicle_stop_status(run_id), stop_status)
        _replace_hash(pipe, keys.run_stop_time_updates(run_id), update_fields)
        if congestion_fields:  # kept until the next segment is completed
            _replace_hash(pipe, keys.run_congestion_level(run_id), congestion_fields)
    pipe.execute()


def observe_progression(batch: AcceptedBatch, redis_client) -> None:
    """Batch observer: match the batch's positions of tracked runs and publish the results."""
    if not batch.positions:
        return
    runs = _runs_to_match(batch.positions, redis_client)
    if not runs:
        return
    config = progression_config()
    progressed = [
        RunProgressed(run, match_position(run.geometry, run.state, fix_of(run.position), config))
        for run in runs
    ]
    stop_events_write(
        RunStopEvent(item.run.run_id, item.run.trip_id, item.run.service_date, event)
        for item in progressed
        for event in item.step.events
    )
    _write_hot_state(redis_client, progressed, segment_history_get())
    for item, status in stop_status_changes(progressed, config):
        publish_stop_status(item.run.run_id, status, vehicle_id=item.run.position.vehicle_id)
