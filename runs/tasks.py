"""Celery tasks of the runs app: thin interfaces to the lifecycle service, no rules.

``run_event_detected`` applies an event a detector proposed, as ``system``;
``scan_stale_runs`` is the beat task of ``realtime_engine.scans``.
"""

from __future__ import annotations

from celery import shared_task

from databus import keys
from databus.redis import get_redis
from runs.domain.lifecycle.events import RunEvent
from runs.services.actors import SYSTEM
from runs.services.lifecycle import RunConflict, RunNotFound, run_event_apply
from runs.services.thresholds import thresholds_get

# Delete the pending marker only if it still names this event.
_CLEAR_PENDING = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


@shared_task(
    name="runs.run_event_detected",
    autoretry_for=(RunConflict,),
    retry_backoff=1,
    max_retries=5,
)
def run_event_detected(run_id: str, event: str, details: dict | None = None) -> dict:
    """Apply a detected event as the system; the answer says whether it applied and why not."""
    try:
        outcome = run_event_apply(
            run_id=run_id, event=RunEvent(event), details=details or {}, actor=SYSTEM
        )
    except RunNotFound:
        return {"run_id": run_id, "event": event, "accepted": False, "reasons": ["no such run"]}
    finally:
        get_redis().eval(_CLEAR_PENDING, 1, keys.run_pending_event(run_id), event)
    decision = outcome.decision
    return {
        "run_id": run_id,
        "event": event,
        "accepted": decision.accepted,
        "state": decision.target.value,
        "reasons": list(decision.reasons),
    }


@shared_task(name="runs.scan_stale_runs")
def scan_stale_runs() -> int:
    """Enqueue tracking-lost / tracking-expired events for silent runs; returns how many."""
    from realtime_engine.scans import scan_stale_runs as scan

    return len(scan(get_redis(), thresholds_get()))
