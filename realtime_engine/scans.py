"""The periodic stale-run scan: runs whose telemetry stopped get tracking lost / expired.

Reads ``runs:last_seen`` with one range query (only runs silent for longer than the
stale threshold, never every run), their states in one pipeline, and lets the pure
periodic detectors judge; each proposal becomes one Celery task (see ``dispatch``).
Called by the beat task ``runs.scan_stale_runs`` (``realtime_engine.tasks``) every
``RUN_SCAN_INTERVAL_S``. Each scan replaces the record of the last one (when, how many runs
it looked at, which transitions it asked for: ``realtime_engine.scan_record``), which the
operator's status page shows.
"""

from __future__ import annotations

import time

import redis

from databus import keys
from realtime_engine import scan_record
from realtime_engine.dispatch import Enqueue, enqueue_event
from runs.domain.detection.detectors import DetectionSnapshot, RunEventRequest
from runs.domain.detection.registry import PERIODIC_DETECTORS, first_detection
from runs.domain.lifecycle.table import TRANSITION_BY_KEY
from runs.domain.lifecycle.thresholds import Thresholds
from runs.domain.projections import run as run_contract
from runs.services.pending_event import pending_event_claim

SCAN_LIMIT = 10_000  # runs judged per scan at most; the rest wait for the next one
# What the periodic detectors need of a run's projection.
_RUN_FIELDS = (run_contract.RUN_LIFECYCLE_STATE, run_contract.VEHICLE_ID, run_contract.TRIP_ID)


def stale_runs_read(
    client: redis.Redis, *, now: float, thresholds: Thresholds
) -> list[DetectionSnapshot]:
    silent_since = now - thresholds.stale_after_s
    stale = client.zrangebyscore(
        keys.RUNS_LAST_SEEN, "-inf", f"({silent_since}", start=0, num=SCAN_LIMIT, withscores=True
    )
    if not stale:
        return []
    pipe = client.pipeline(transaction=False)
    for run_id, _ in stale:
        pipe.hmget(keys.run(run_id), _RUN_FIELDS)
    snapshots = []
    for (run_id, last_seen), values in zip(stale, pipe.execute(), strict=True):
        projection = run_contract.from_redis(run_id, dict(zip(_RUN_FIELDS, values, strict=True)))
        if projection is None or projection.state is None:
            continue
        snapshots.append(
            DetectionSnapshot(
                run_id=run_id,
                state=projection.state,
                vehicle_id=projection.vehicle_id or "",
                trip_id=projection.trip_id or "",
                last_seen=last_seen,
                thresholds=thresholds,
            )
        )
    return snapshots


def plan_scan(snapshots: list[DetectionSnapshot], now: float) -> list[RunEventRequest]:
    requests = (first_detection(PERIODIC_DETECTORS, s, None, now) for s in snapshots)
    return [r for r in requests if r is not None]


def scan_stale_runs(
    client: redis.Redis,
    thresholds: Thresholds,
    *,
    now: float | None = None,
    enqueue: Enqueue = enqueue_event,
) -> list[RunEventRequest]:
    started = time.monotonic()
    now = time.time() if now is None else now
    snapshots = stale_runs_read(client, now=now, thresholds=thresholds)
    requests = pending_event_claim(client, plan_scan(snapshots, now))
    for request in requests:
        enqueue(request)
    record = scan_result(snapshots, requests, scanned_at=now, duration_s=time.monotonic() - started)
    client.set(keys.STALE_RUN_SCAN_LAST, scan_record.encode(record))
    return requests


def scan_result(
    snapshots: list[DetectionSnapshot],
    requests: list[RunEventRequest],
    *,
    scanned_at: float,
    duration_s: float,
) -> scan_record.ScanRecord:
    """What a scan did, as its record: the runs it judged and the transitions it asked for
    (from each run's state, to where the lifecycle table leads that event). Pure."""
    states = {snapshot.run_id: snapshot.state for snapshot in snapshots}
    transitions = []
    for request in requests[: scan_record.MAX_LISTED]:
        source = states[request.run_id]
        transition = TRANSITION_BY_KEY.get((source, request.event))
        transitions.append(
            scan_record.ScanTransition(
                run_id=request.run_id,
                event=request.event.value,
                source=source.value,
                target=(transition.target if transition else source).value,
            )
        )
    return scan_record.ScanRecord(
        scanned_at=scanned_at,
        duration_s=round(duration_s, 6),
        runs_looked_at=len(snapshots),
        transitions_total=len(requests),
        transitions=tuple(transitions),
    )


def last_scan_get(client: redis.Redis) -> scan_record.ScanRecord | None:
    """The last scan's record (None: no scan since Redis was last emptied)."""
    return scan_record.decode(client.get(keys.STALE_RUN_SCAN_LAST))
