"""The periodic stale-run scan: runs whose telemetry stopped get tracking lost / expired.

Reads ``runs:last_seen`` with one range query (only runs silent for longer than the
stale threshold, never every run), their states in one pipeline, and lets the pure
periodic detectors judge; each proposal becomes one Celery task (see ``dispatch``).
Called by the beat task ``runs.scan_stale_runs`` (``realtime_engine.tasks``) every
``RUN_SCAN_INTERVAL_S``.
"""

from __future__ import annotations

import time

import redis

from databus import keys
from realtime_engine.dispatch import Enqueue, enqueue_event
from runs.domain.detection.detectors import DetectionSnapshot, RunEventRequest
from runs.domain.detection.registry import PERIODIC_DETECTORS, first_detection
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
    now = time.time() if now is None else now
    requests = pending_event_claim(
        client, plan_scan(stale_runs_read(client, now=now, thresholds=thresholds), now)
    )
    for request in requests:
        enqueue(request)
    return requests
