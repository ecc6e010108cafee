"""The progression producer: a batch observer that map-matches every fix of each tracked run.

Called by the MQTT consumer after a batch's hot state is safe (``BATCH_OBSERVERS``,
before the lifecycle dispatcher, so the completion detector judges the progress this
batch matched). Per batch, whatever its size:
- one Redis pipeline reads ``vehicle:{vid}:current_run`` of the batch's vehicles;
- one pipeline reads those runs' projections, matcher states and published updates
  (and one more the fix logs and checkpoints of runs with a fix older than their state);
- the pure matcher (``runs.domain.progression``) folds every fix of a Tracking
  (pre-trip) or In Progress run in timestamp order (``ordering.plan_matching``: from
  the stored state, or, for a fix older than it, from the checkpoint before that fix),
  with the trip geometry and stop times from in-process caches (no database query per
  position);
- one server-side script writes, per run and only if its state is still the one read
  (a compare-and-set on the state's ``revision`` and ``matched_at``), the new matcher
  state, the fixes it matched, a checkpoint, ``vehicle_stop_status`` (absent while
  pre-trip: such a vehicle is not on-route), ``congestion_level`` and
  ``stop_time_updates``, each checked by its contract's ``validate_for_write`` (they
  expire a day after the last write, so finished runs leave nothing behind). A run
  whose state another worker changed meanwhile is read and matched again;
- one multi-row upsert writes the stop events of the runs written, tagged with the new
  revision (a later revision's row is never replaced by an older one). If it fails,
  the runs are marked to replay those fixes, so the next fix produces the events again.
So a run's matcher state, stop events and predictions do not depend on how the broker
split its vehicle's fixes between workers, nor on how they were batched (docs/
architecture.md, "Several workers, one run"). Predictions start from the schedule
deviation at the matched distance and use the observed travel-time history of
``segment_history`` (refreshed every few minutes).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, replace
from functools import lru_cache

from django.conf import settings
from prometheus_client import Counter

from databus import keys
from databus.metrics import REGISTRY
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
from runs.domain.progression.matching import Fix, MatchStep, Progress, progress_of
from runs.domain.progression.ordering import MatchPlan, match_fixes, plan_matching
from runs.domain.progression.state import MatchState
from runs.domain.progression.status import Phase
from runs.domain.progression.stop_events import StopEvent
from runs.domain.telemetry import congestion_level as congestion_contract
from runs.domain.telemetry import stop_time_updates as updates_contract
from runs.domain.telemetry import vehicle_stop_status as stop_status_contract
from runs.domain.telemetry.position import Position
from runs.domain.telemetry.rejection import TelemetryRejected
from runs.domain.telemetry.vehicle_stop_status import VehicleStopStatus
from runs.services.thresholds import progression_config_get as progression_config
from schedule_engine.gtfs_import.errors import FieldError
from schedule_engine.gtfs_import.fields import parse_time
from schedule_engine.selectors import trip_geometry_get

logger = logging.getLogger(__name__)

# Tracking: the vehicle may still be laying over (the pre-trip state); In Progress: on its trip.
MATCHED_STATES = frozenset({RunState.TRACKING.value, RunState.IN_PROGRESS.value})
RUN_FIELDS = ("run_lifecycle_state", "trip_id", "start_date", "start_time")
# The keys written here outlive their run by at most this (refreshed on every write).
KEY_TTL_S = 24 * 3600
# Fields of run:{rid}:progression beside MatchState's own (``from_redis`` ignores them).
REVISION = "revision"  # the write's Redis clock (µs), at least the previous revision + 1
REPLAY_FROM = "replay_from"  # the stop events of fixes from then on are not yet durable
MATCHED_AT = MatchState.__dataclass_fields__["matched_at"].name
# A batch reads, matches and writes a contended run again at most this many times.
MAX_ATTEMPTS = 8

FIXES_DROPPED = Counter(
    "databus_progression_fixes_dropped_total",
    "Fixes not matched: older than every kept checkpoint, or contended past the retries",
    registry=REGISTRY,
)
REWINDS = Counter(
    "databus_progression_rewinds_total",
    "Runs re-matched from a checkpoint for a fix older than their state (a late fix)",
    registry=REGISTRY,
)
CAS_RETRIES = Counter(
    "databus_progression_cas_retries_total",
    "Runs matched again because another worker wrote their state meanwhile",
    registry=REGISTRY,
)

# Per run six KEYS (state, fix log, checkpoints, stop status, updates, congestion);
# ARGV[1] the checkpoints kept, ARGV[2] the TTL, then one JSON argument per run (see
# ``_write_args``). Writes a run only if its state's revision and matched_at are still
# those read; returns per run its new revision, or false when it lost the race.
RUN_KEY_COUNT = 6
_WRITE_IF_UNCHANGED = """
local limit = tonumber(ARGV[1])
local ttl = tonumber(ARGV[2])
local now = redis.call('TIME')
local clock = tonumber(now[1]) * 1000000 + tonumber(now[2])
local function replace(key, fields)
  redis.call('DEL', key)
  if #fields > 0 then
    redis.call('HSET', key, unpack(fields))
    redis.call('EXPIRE', key, ttl)
  end
end
local out = {}
for i = 3, #ARGV do
  local run = cjson.decode(ARGV[i])
  local k = (i - 3) * 6
  local state_key, log_key, saved_key = KEYS[k + 1], KEYS[k + 2], KEYS[k + 3]
  local stored = redis.call('HMGET', state_key, 'revision', 'matched_at')
  if (stored[1] or '0') ~= run.revision or (stored[2] or '') ~= run.matched_at then
    out[i - 2] = false
  else
    local revision = string.format('%.0f', math.max((tonumber(stored[1]) or 0) + 1, clock))
    redis.call('DEL', state_key)
    redis.call('HSET', state_key, 'revision', revision, unpack(run.state))
    -- Checkpoints after the start were folded without a fix matched now: superseded.
    redis.call('ZREMRANGEBYSCORE', saved_key, '(' .. run.start_at, '+inf')
    redis.call('ZADD', saved_key, run.start_at, run.start, run.end_at, run['end'])
    redis.call('ZREMRANGEBYRANK', saved_key, 0, -(limit + 1))
    for j = 1, #run.fixes, 2 do
      redis.call('ZADD', log_key, run.fixes[j], run.fixes[j + 1])
    end
    local oldest = redis.call('ZRANGE', saved_key, 0, 0, 'WITHSCORES')
    redis.call('ZREMRANGEBYSCORE', log_key, '-inf', oldest[2])
    for j = 1, 3 do redis.call('EXPIRE', KEYS[k + j], ttl) end
    if run.publish then
      replace(KEYS[k + 4], run.status)
      replace(KEYS[k + 5], run.updates)
      if #run.congestion > 0 then replace(KEYS[k + 6], run.congestion) end
    end
    out[i - 2] = revision
  end
end
return out
"""

# KEYS: run progression hashes; ARGV: per run the first fix whose events were not
# written. Keeps the earliest mark and moves the revision on, so a worker that read the
# state before the mark loses its compare-and-set and reads the mark.
_MARK_REPLAY = """
local now = redis.call('TIME')
local clock = tonumber(now[1]) * 1000000 + tonumber(now[2])
for i, key in ipairs(KEYS) do
  local f = redis.call('HMGET', key, 'revision', 'replay_from')
  local mark = tonumber(ARGV[i])
  if f[2] and tonumber(f[2]) and tonumber(f[2]) < mark then mark = tonumber(f[2]) end
  local revision = math.max((tonumber(f[1]) or 0) + 1, clock)
  redis.call('HSET', key, 'replay_from', string.format('%.17g', mark),
             'revision', string.format('%.0f', revision))
end
return #KEYS
"""


@dataclass(frozen=True, slots=True)
class RunToMatch:
    run_id: str
    vehicle_id: str
    trip_id: str
    service_date: dt.date
    # The run's start_time minus its trip's first departure: non-zero for an instance of a
    # frequency-based trip, whose stop times are a template shifted to the instance.
    start_shift_s: int
    geometry: TripGeometry
    schedule: TripSchedule
    state: MatchState  # as stored: what was published before this batch
    # The compare-and-set's expectation: the stored ``revision`` and ``matched_at`` text.
    basis: tuple[str, str]
    checkpoints: tuple[MatchState, ...]
    logged: tuple[Fix, ...]  # the fixes matched since the oldest checkpoint
    replay_from: float | None  # the events of fixes from then on were not written durably
    fixes: tuple[Fix, ...]  # this batch's fixes of the run's vehicle
    # Times already observed (kept from the run's previous stop_time_updates), by stop_sequence.
    observed: Mapping[int, ObservedStop]


@dataclass(frozen=True, slots=True)
class RunProgressed:
    run: RunToMatch
    plan: MatchPlan
    step: MatchStep  # the last fix's
    events: tuple[StopEvent, ...]  # of every fix matched, in order

    @property
    def at(self) -> int:
        """The timestamp of the last fix matched: what the published values describe."""
        return int(self.step.state.matched_at)


def fix_of(position: Position) -> Fix:
    return Fix(
        timestamp=float(position.timestamp),
        latitude=position.latitude,
        longitude=position.longitude,
        speed_mps=position.speed,
        bearing_deg=position.bearing,
    )


def fix_member(fix: Fix) -> str:
    """A fix as a member of the run's fix log (equal fixes, equal members)."""
    return json.dumps(
        [fix.timestamp, fix.latitude, fix.longitude, fix.speed_mps, fix.bearing_deg],
        separators=(",", ":"),
    )


def fix_from_member(member: str) -> Fix | None:
    try:
        timestamp, latitude, longitude, speed, bearing = json.loads(member)
        return Fix(float(timestamp), float(latitude), float(longitude), speed, bearing)
    except (ValueError, TypeError):
        return None  # a damaged entry costs that fix, not the run


def checkpoint_member(state: MatchState) -> str:
    return json.dumps(state.to_redis(), sort_keys=True, separators=(",", ":"))


def checkpoint_from_member(member: str, scheduled_start: float) -> MatchState | None:
    try:
        raw = json.loads(member)
    except ValueError:
        return None
    if not isinstance(raw, dict):
        return None
    return MatchState.from_redis(raw, scheduled_start=scheduled_start)


def fixes_by_vehicle(batch: AcceptedBatch) -> dict[str, list[Fix]]:
    """Every accepted position of the batch, per vehicle (the latest ones included)."""
    out: dict[str, list[Fix]] = defaultdict(list)
    for position in (*batch.history, *batch.positions.values()):
        out[position.vehicle_id].append(fix_of(position))
    return out


def _service_date(text: str | None) -> dt.date | None:
    try:
        return dt.datetime.strptime(text or "", "%Y%m%d").date()
    except ValueError:
        return None


def _float_or_none(text: str | None) -> float | None:
    try:
        return float(text) if text else None
    except ValueError:
        return None


def start_shift_s(schedule: TripSchedule, start_time: str | None) -> int:
    """How far the run's instance departs after its trip's stop-time template (0 if unknown)."""
    try:
        instance_start = parse_time(start_time or "")
    except FieldError:
        return 0
    return instance_start - schedule.trip.stops[0].departure_s


def _claimed_runs(vehicle_ids: list[str], redis_client) -> list[tuple[str, str]]:
    """(vehicle id, run id) of the vehicles a run claims."""
    pipe = redis_client.pipeline(transaction=False)
    for vehicle_id in vehicle_ids:
        pipe.get(keys.vehicle_current_run(vehicle_id))
    return [(v, r) for v, r in zip(vehicle_ids, pipe.execute(), strict=True) if r]


def _runs_to_match(
    claimed: list[tuple[str, str]], fixes: Mapping[str, list[Fix]], redis_client
) -> list[RunToMatch]:
    """One round trip for each run's projection, matcher state and published updates; a
    second only for runs with a fix not newer than their state (their log and checkpoints)."""
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
                vehicle_id=vehicle_id,
                trip_id=trip_id,
                service_date=service_date,
                start_shift_s=shift,
                geometry=geometry,
                schedule=schedule,
                state=MatchState.from_redis(stored, scheduled_start=scheduled_start),
                basis=(stored.get(REVISION, "0"), stored.get(MATCHED_AT, "")),
                checkpoints=(),
                logged=(),
                replay_from=_float_or_none(stored.get(REPLAY_FROM)),
                fixes=tuple(fixes[vehicle_id]),
                observed=_observed_of(published),
            )
        )
    return _with_history(runs, redis_client)


def _needs_history(run: RunToMatch) -> bool:
    """A fix newer than the stored state is never in the log: only older ones need it."""
    matched_at = run.state.matched_at
    return run.replay_from is not None or any(f.timestamp <= matched_at for f in run.fixes)


def _with_history(runs: list[RunToMatch], redis_client) -> list[RunToMatch]:
    """The runs, those that need it with their fix log and checkpoints (one round trip)."""
    late = [index for index, run in enumerate(runs) if _needs_history(run)]
    if not late:
        return runs
    pipe = redis_client.pipeline(transaction=False)
    for index in late:
        pipe.zrange(keys.run_progression_fixes(runs[index].run_id), 0, -1)
        pipe.zrange(keys.run_progression_checkpoints(runs[index].run_id), 0, -1)
    replies = pipe.execute()
    runs = list(runs)
    for n, index in enumerate(late):
        logged, saved = replies[2 * n : 2 * n + 2]
        start = runs[index].state.scheduled_start
        checkpoints = (checkpoint_from_member(member, start) for member in saved)
        runs[index] = replace(
            runs[index],
            checkpoints=tuple(c for c in checkpoints if c is not None),
            logged=tuple(f for f in map(fix_from_member, logged) if f is not None),
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
    """The run's observed stops including those the matched fixes completed."""
    observed = dict(progressed.run.observed)
    for event in progressed.events:
        observed[event.stop_sequence] = ObservedStop(event.arrived_at, event.departed_at)
    return observed


def congestion_of(progressed: RunProgressed) -> congestion_contract.CongestionLevel | None:
    """The level of the last segment the matched fixes completed (None: none completed)."""
    run, events = progressed.run, progressed.events
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
        # When the segment was completed, not when the batch ended: the same value
        # however the fixes were batched or split between workers.
        timestamp=int(after.departed_at or after.arrived_at),
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
    at = float(progressed.at)
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
        timestamp=progressed.at,
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
    """The runs whose published stop status differs from the one before this batch."""
    changed = []
    for item in progressed:
        run, after = item.run, item.step.progress
        before = progress_of(run.geometry, run.state, run.state.speed_mps, config)
        status = stop_status_of(after, item.at)
        if status is not None and (before.phase, before.status, before.stop_sequence) != (
            after.phase,
            after.status,
            after.stop_sequence,
        ):
            changed.append((item, status))
    return changed


def _stop_status_fields(progressed: RunProgressed) -> dict[str, str] | None:
    status = stop_status_of(progressed.step.progress, progressed.at)
    return stop_status_contract.validate_for_write(status) if status else None


def _flat(fields: Mapping[str, str] | None) -> list[str]:
    return [item for pair in (fields or {}).items() for item in pair]


def _write_args(item: RunProgressed, history: StopSegmentHistory) -> str:
    """The compare-and-set script's argument for one run (JSON: strings and string lists)."""
    run, plan = item.run, item.plan
    arg: dict[str, object] = {
        "revision": run.basis[0],
        "matched_at": run.basis[1],
        "state": _flat(item.step.state.to_redis()),
        "start_at": repr(plan.start.matched_at),
        "start": checkpoint_member(plan.start),
        "end_at": repr(item.step.state.matched_at),
        "end": checkpoint_member(item.step.state),
        "fixes": [v for fix in plan.fixes for v in (repr(fix.timestamp), fix_member(fix))],
        "publish": False,
    }
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
        logger.warning("progression: run %s not published: %s", run.run_id, error)
    else:
        arg.update(
            publish=True,
            status=_flat(stop_status),
            updates=_flat(update_fields),
            congestion=_flat(congestion_fields),  # empty: kept until the next segment
        )
    return json.dumps(arg, separators=(",", ":"))


def progression_keys(run_id: str) -> tuple[str, ...]:
    """Every key the progression producer writes for a run (one compare-and-set covers them)."""
    return (
        keys.run_progression(run_id),
        keys.run_progression_fixes(run_id),
        keys.run_progression_checkpoints(run_id),
        keys.run_vehicle_stop_status(run_id),
        keys.run_stop_time_updates(run_id),
        keys.run_congestion_level(run_id),
    )


def _write_hot_state(
    redis_client, progressed: list[RunProgressed], history: StopSegmentHistory
) -> tuple[list[tuple[RunProgressed, int]], list[RunProgressed]]:
    """One script for the batch: (runs written with their new revision, runs that lost)."""
    replies = redis_client.eval(
        _WRITE_IF_UNCHANGED,
        RUN_KEY_COUNT * len(progressed),
        *[key for item in progressed for key in progression_keys(item.run.run_id)],
        settings.PROGRESSION_CHECKPOINTS,
        KEY_TTL_S,
        *[_write_args(item, history) for item in progressed],
    )
    won, lost = [], []
    for item, revision in zip(progressed, replies, strict=True):
        if revision:
            won.append((item, int(revision)))
        else:
            lost.append(item)
    return won, lost


def _mark_replay(redis_client, runs: list[tuple[RunProgressed, int]]) -> None:
    """The stop events of these writes did not reach PostgreSQL: the next fix replays them."""
    redis_client.eval(
        _MARK_REPLAY,
        len(runs),
        *[keys.run_progression(item.run.run_id) for item, _ in runs],
        *[repr(item.plan.fixes[0].timestamp) for item, _ in runs],
    )


def _progress(runs: list[RunToMatch], config: ProgressionConfig) -> list[RunProgressed]:
    progressed = []
    for run in runs:
        plan = plan_matching(
            run.state, run.checkpoints, run.logged, run.fixes, replay_from=run.replay_from
        )
        matched = match_fixes(run.geometry, plan.start, plan.fixes, config)
        if matched is not None:
            progressed.append(RunProgressed(run, plan, matched.step, matched.events))
        else:
            FIXES_DROPPED.inc(plan.dropped)  # the others are counted once written
    return progressed


def observe_progression(batch: AcceptedBatch, redis_client) -> None:
    """Batch observer: match the batch's fixes of tracked runs and publish the results."""
    fixes = fixes_by_vehicle(batch)
    if not fixes:
        return
    pending = _claimed_runs(list(fixes), redis_client)
    config = progression_config()
    history = segment_history_get()
    written: list[tuple[RunProgressed, int]] = []
    for _ in range(MAX_ATTEMPTS):
        if not pending:
            break
        progressed = _progress(_runs_to_match(pending, fixes, redis_client), config)
        if not progressed:
            break
        won, lost = _write_hot_state(redis_client, progressed, history)
        written.extend(won)
        for item, _ in won:
            FIXES_DROPPED.inc(item.plan.dropped)
            if item.plan.rewound:
                REWINDS.inc()
        # Lost the race to another worker: re-read its state (and the fixes it logged) and
        # match again; this batch's fixes are not dropped for losing.
        pending = [(item.run.vehicle_id, item.run.run_id) for item in lost]
        if lost:
            CAS_RETRIES.inc(len(lost))
    else:
        if pending:
            # Still contended after every attempt (workers in lockstep): these fixes are lost.
            FIXES_DROPPED.inc(sum(len(fixes[vehicle_id]) for vehicle_id, _ in pending))
            logger.warning(
                "progression: %d runs contended past %d attempts", len(pending), MAX_ATTEMPTS
            )
    if not written:
        return
    try:
        stop_events_write(
            RunStopEvent(item.run.run_id, item.run.trip_id, item.run.service_date, event, revision)
            for item, revision in written
            for event in item.events
        )
    except Exception:
        _mark_replay(redis_client, [(item, r) for item, r in written if item.events])
        raise
    for item, status in stop_status_changes([item for item, _ in written], config):
        publish_stop_status(item.run.run_id, status, vehicle_id=item.run.vehicle_id)
