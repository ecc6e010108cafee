"""The matching shell: read a batch's tracked runs and their matcher state, then match.

Per batch, whatever its size: one MGET reads ``vehicle:{vid}:current_run`` of
the batch's vehicles (``claimed_runs``); one script reads those runs' projections, and
their matcher states and published updates unless this worker wrote them last and holds
them (``written_runs``); one more reads the fix logs and checkpoints of runs with a fix
older than their state (``runs_to_match``). ``match_runs`` then folds every fix of a
Tracking (pre-trip) or In Progress run in timestamp order through the pure matcher
(``ordering.plan_matching``: from the stored state, or, for a fix older than it, from
the checkpoint before that fix), with the trip geometry and stop times from in-process
caches (no database query per position; ``run_trips`` prepares each run's trip once).
Writing is ``matcher_write``'s.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace

from prometheus_client import Counter

from databus import keys
from databus.metrics import REGISTRY
from realtime_engine.ingest.batch import AcceptedBatch
from realtime_engine.progression import written_runs
from realtime_engine.progression.matcher_store import (
    MATCHED_AT,
    REPLAY_FROM,
    REVISION,
    checkpoint_from_member,
    fix_from_member,
)
from realtime_engine.progression.run_trips import (
    TripToMatch,
    trip_to_match,
    trips_to_match_prefetch,
)
from runs.domain.lifecycle.states import RunState
from runs.domain.progression.config import ProgressionConfig
from runs.domain.progression.matching import Fix, MatchStep
from runs.domain.progression.ordering import MatchPlan, match_fixes, plan_matching
from runs.domain.progression.state import MatchState
from runs.domain.progression.stop_events import StopCall
from runs.domain.projections import run as run_projection
from runs.domain.telemetry import stop_time_updates as updates_contract
from runs.domain.telemetry.position import Position
from schedule_engine.predictions.predictor import ObservedStop

# Tracking: the vehicle may still be laying over (the pre-trip state); In Progress: on its trip.
MATCHED_STATES = frozenset({RunState.TRACKING.value, RunState.IN_PROGRESS.value})
RUN_FIELDS = (
    run_projection.RUN_LIFECYCLE_STATE,
    run_projection.TRIP_ID,
    run_projection.START_DATE,
    run_projection.START_TIME,
)

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


@dataclass(frozen=True, slots=True)
class RunToMatch:
    run_id: str
    vehicle_id: str
    trip: TripToMatch
    state: MatchState  # as stored: what was published before this batch
    # The compare-and-set's expectation: the stored ``revision`` and ``matched_at`` text.
    basis: tuple[str, str]
    checkpoints: tuple[MatchState, ...]
    logged: tuple[Fix, ...]  # the fixes matched since the oldest checkpoint
    replay_from: float | None  # the events of fixes from then on were not written durably
    fixes: tuple[Fix, ...]  # this batch's fixes of the run's vehicle
    # Times already observed (kept from the run's previous stop_time_updates), by stop_sequence.
    observed: Mapping[int, ObservedStop]
    # ``state``'s checkpoint member when known (this worker wrote it): not encoded again.
    checkpoint: str | None = None


@dataclass(frozen=True, slots=True)
class RunProgressed:
    run: RunToMatch
    plan: MatchPlan
    step: MatchStep  # the last fix's
    events: tuple[StopCall, ...]  # of every fix matched, in order
    steps: tuple[MatchStep, ...] = ()  # every fix's, in order (empty: ``step`` alone)

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


def fixes_by_vehicle(batch: AcceptedBatch) -> dict[str, list[Fix]]:
    """Every accepted position of the batch, per vehicle (the latest ones included)."""
    out: dict[str, list[Fix]] = defaultdict(list)
    for position in (*batch.history, *batch.positions.values()):
        out[position.vehicle_id].append(fix_of(position))
    return out


def _float_or_none(text: str | None) -> float | None:
    try:
        return float(text) if text else None
    except ValueError:
        return None


def claimed_runs(vehicle_ids: list[str], redis_client) -> list[tuple[str, str]]:
    """(vehicle id, run id) of the vehicles a run claims."""
    if not vehicle_ids:
        return []
    claims = redis_client.mget([keys.vehicle_current_run(v) for v in vehicle_ids])
    return [(v, r) for v, r in zip(vehicle_ids, claims, strict=True) if r]


# KEYS: per run its projection, matcher state and published updates. ARGV[1]: how many
# projection fields follow, those fields, then per run the revision and matched_at of the
# state the caller holds ('' for none). Per run: {projection} when the stored state is the
# one held and carries no replay mark, else {projection, state, updates} (flat HGETALLs).
_READ_RUNS = f"""
local n = tonumber(ARGV[1])
local fields = {{}}
for j = 1, n do fields[j] = ARGV[1 + j] end
local out = {{}}
for i = 1, #KEYS / 3 do
  local k = (i - 1) * 3
  local projection = redis.call('HMGET', KEYS[k + 1], unpack(fields))
  local revision, matched_at = ARGV[n + 2 * i], ARGV[n + 2 * i + 1]
  local stored = redis.call('HMGET', KEYS[k + 2], '{REVISION}', '{MATCHED_AT}', '{REPLAY_FROM}')
  if revision ~= '' and stored[1] == revision and stored[2] == matched_at and not stored[3] then
    out[i] = {{projection}}
  else
    out[i] = {{projection, redis.call('HGETALL', KEYS[k + 2]), redis.call('HGETALL', KEYS[k + 3])}}
  end
end
return out
"""


def _hash_of(flat: list[str]) -> dict[str, str]:
    pairs = iter(flat)
    return dict(zip(pairs, pairs, strict=True))


def runs_to_match(
    claimed: list[tuple[str, str]], fixes: Mapping[str, list[Fix]], redis_client
) -> list[RunToMatch]:
    """One round trip (a script) for each run's projection and, unless this worker wrote
    the stored state (``written_runs``), its matcher state and published updates; a second
    only for runs with a fix not newer than their state (their log and checkpoints)."""
    if not claimed:
        return []
    held = [written_runs.recall(run_id) for _, run_id in claimed]
    replies = redis_client.eval(
        _READ_RUNS,
        3 * len(claimed),
        *[
            key
            for _, run_id in claimed
            for key in (
                keys.run(run_id),
                keys.run_progression(run_id),
                keys.run_stop_time_updates(run_id),
            )
        ],
        len(RUN_FIELDS),
        *RUN_FIELDS,
        *[v for entry in held for v in ((entry.revision, entry.matched_at) if entry else ("", ""))],
    )
    trips_to_match_prefetch(reply[0][1] for reply in replies if reply[0][0] in MATCHED_STATES)
    runs = []
    for (vehicle_id, run_id), reply, entry in zip(claimed, replies, held, strict=True):
        state, trip_id, start_date, start_time = reply[0]
        if state not in MATCHED_STATES:
            continue
        trip = trip_to_match(trip_id, start_date, start_time)
        if trip is None:
            continue
        if len(reply) == 1:  # the state this worker wrote, as it wrote it
            runs.append(
                RunToMatch(
                    run_id=run_id,
                    vehicle_id=vehicle_id,
                    trip=trip,
                    state=entry.state,
                    basis=(entry.revision, entry.matched_at),
                    checkpoints=(),
                    logged=(),
                    replay_from=None,
                    fixes=tuple(fixes[vehicle_id]),
                    observed=entry.observed,
                    checkpoint=entry.checkpoint,
                )
            )
            continue
        stored, published = _hash_of(reply[1]), _hash_of(reply[2])
        runs.append(
            RunToMatch(
                run_id=run_id,
                vehicle_id=vehicle_id,
                trip=trip,
                state=MatchState.from_redis(stored, scheduled_start=trip.scheduled_start),
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
    return _observed_rows(updates_contract.observed_from_redis(published))


def observed_stops(updates: updates_contract.StopTimeUpdates) -> dict[int, ObservedStop]:
    """The stops a run's published updates say it passed, as the next match reads them."""
    return _observed_rows(u for u in updates.updates if u.observed)


def _observed_rows(rows: Iterable[updates_contract.StopTimeUpdate]) -> dict[int, ObservedStop]:
    return {
        u.stop_sequence: ObservedStop(float(u.arrival or u.departure), u.departure) for u in rows
    }


def match_runs(runs: list[RunToMatch], config: ProgressionConfig) -> list[RunProgressed]:
    """Each run's fixes folded through the matcher; a run with no fix left to match is left
    out (its dropped fixes counted here, the others' once written)."""
    progressed = []
    for run in runs:
        plan = plan_matching(
            run.state, run.checkpoints, run.logged, run.fixes, replay_from=run.replay_from
        )
        matched = match_fixes(run.trip.geometry, plan.start, plan.fixes, config)
        if matched is not None:
            progressed.append(RunProgressed(run, plan, matched.step, matched.events, matched.steps))
        else:
            FIXES_DROPPED.inc(plan.dropped)  # the others are counted once written
    return progressed
