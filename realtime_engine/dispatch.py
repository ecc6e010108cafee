"""Detector dispatch: the ingest consumer's batch observer that turns telemetry into events.

Per accepted batch: one server-side script reads, for every vehicle in the batch,
the run that claims it and that run's state and trip (one round trip, no database);
the pure detectors of ``runs.domain.detection`` judge each run against its vehicle's
latest position; each proposal is marked pending (``runs.services.pending_event``, so
the next batches do not enqueue it again while the worker applies it) and becomes one
Celery task. The lifecycle service, in that task, takes the decision with its guards.

Several workers (one shared subscription) dispatch one run's batches concurrently; no
compare-and-set is needed here because nothing per run is written but the pending
marker, set only if absent. Only positions that became hot state are judged (an older
fix than the stored one never reaches a detector), against the progress matched so far
(possibly by another worker, from a newer fix: progress only grows, so at worst an event
is proposed a fix early or twice), and the lifecycle service judges the event again,
under the run's row lock, against the newest hot state.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import redis

from databus import keys
from realtime_engine.ingest.batch import AcceptedBatch
from runs.domain.detection.detectors import DetectionSnapshot, RunEventRequest
from runs.domain.detection.registry import TELEMETRY_DETECTORS, first_detection
from runs.domain.geometry import TripGeometry
from runs.domain.lifecycle.states import RunState
from runs.domain.lifecycle.thresholds import Thresholds
from runs.domain.projections import run as run_contract
from runs.domain.telemetry.position import Position
from runs.services.pending_event import pending_event_claim
from runs.services.telemetry import PROGRESSED_FIELD, progressed_m_parse

# KEYS: vehicle current-run claims; ARGV: the run key prefix, the progression key
# suffix, the matcher field holding the run's progress along its trip, and the state and
# trip id fields of the run projection (``_RUN_FIELDS``).
# Returns, per vehicle, {run_id, state, trip_id, progressed} or false when no run claims it.
_READ_RUN_STATES = """
local out = {}
for i, claim in ipairs(KEYS) do
  local run_id = redis.call('GET', claim)
  if run_id then
    local f = redis.call('HMGET', ARGV[1] .. run_id, ARGV[4], ARGV[5])
    local progressed = redis.call('HGET', ARGV[1] .. run_id .. ARGV[2], ARGV[3])
    out[i] = {run_id, f[1] or '', f[2] or '', progressed or ''}
  else
    out[i] = false
  end
end
return out
"""

_RUN_FIELDS = (run_contract.RUN_LIFECYCLE_STATE, run_contract.TRIP_ID)

GeometryLookup = Callable[[str], TripGeometry | None]
Enqueue = Callable[[RunEventRequest], None]


@dataclass(frozen=True, slots=True)
class ClaimedRun:
    """The run that claims a vehicle, as hot state knows it."""

    run_id: str
    state: RunState
    trip_id: str
    progressed_m: float | None  # the map-matcher's furthest distance along the trip


def run_states_read(client: redis.Redis, vehicle_ids: list[str]) -> dict[str, ClaimedRun]:
    """vehicle id → the run claiming it, for vehicles claimed by a projected run."""
    if not vehicle_ids:
        return {}
    rows = client.eval(
        _READ_RUN_STATES,
        len(vehicle_ids),
        *[keys.vehicle_current_run(vid) for vid in vehicle_ids],
        keys.RUN_KEY_PREFIX,
        keys.RUN_PROGRESSION_SUFFIX,
        PROGRESSED_FIELD,
        *_RUN_FIELDS,
    )
    states = {}
    for vehicle_id, row in zip(vehicle_ids, rows, strict=True):
        if not row:
            continue
        run_id, state, trip_id, progressed = row
        run_state = run_contract.parse_state(state)
        if run_state is None:
            continue  # a run claimed but not (or no longer) projected
        states[vehicle_id] = ClaimedRun(
            run_id, run_state, trip_id, progressed_m_parse(progressed or None)
        )
    return states


def plan_detections(
    run_states: Mapping[str, ClaimedRun],
    positions: Mapping[str, Position],
    now: float,
    thresholds: Thresholds,
    geometry_of: GeometryLookup,
) -> list[RunEventRequest]:
    """Pure given its lookup: at most one event per run from the telemetry detectors."""
    requests = []
    for vehicle_id, claimed in run_states.items():
        in_progress = claimed.state is RunState.IN_PROGRESS
        snapshot = DetectionSnapshot(
            run_id=claimed.run_id,
            state=claimed.state,
            vehicle_id=vehicle_id,
            trip_id=claimed.trip_id,
            geometry=geometry_of(claimed.trip_id) if in_progress else None,
            progressed_m=claimed.progressed_m,
            thresholds=thresholds,
        )
        request = first_detection(TELEMETRY_DETECTORS, snapshot, positions[vehicle_id], now)
        if request is not None:
            requests.append(request)
    return requests


def enqueue_event(request: RunEventRequest) -> None:
    from runs.tasks import run_event_detected

    run_event_detected.delay(request.run_id, request.event.value, dict(request.details))


def _geometry_of(trip_id: str) -> TripGeometry | None:
    # The schedule engine's per-process cache: a dict read after the first build.
    from runs.services.schedule import trip_geometry_facts_get

    return trip_geometry_facts_get(trip_id)


def _thresholds() -> Thresholds:
    from runs.services.thresholds import thresholds_get

    return thresholds_get()


def dispatch_batch(
    batch: AcceptedBatch,
    client: redis.Redis,
    *,
    now: float | None = None,
    enqueue: Enqueue = enqueue_event,
    geometry_of: GeometryLookup = _geometry_of,
) -> list[RunEventRequest]:
    """The batch observer (``(AcceptedBatch, redis) -> None`` in ``BATCH_OBSERVERS``)."""
    positions = batch.positions
    if not positions:
        return []
    now = time.time() if now is None else now
    run_states = run_states_read(client, list(positions))
    planned = plan_detections(run_states, positions, now, _thresholds(), geometry_of)
    requests = pending_event_claim(client, planned)
    for request in requests:
        enqueue(request)
    return requests
