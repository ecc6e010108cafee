"""Celery tasks of the runs app: thin interfaces to the lifecycle service, no rules.

``run_event_detected`` applies an event a detector proposed, as ``system``, and clears
the event's pending marker (``runs.services.pending_event``). ``trip_operations_sync``
rewrites the trip operations' hash from PostgreSQL (beat: a write lost after a commit,
a time bound passed). ``finished_runs_purge`` drops the runs past ``RUN_RETENTION_DAYS``
(``runs.services.retention``). The stale-run scan's beat task is
``realtime_engine.tasks.scan_stale_runs``.
"""

from __future__ import annotations

from celery import shared_task
from django.conf import settings

from databus.redis import get_redis
from runs.domain.lifecycle.events import RunEvent
from runs.services.actors import SYSTEM
from runs.services.lifecycle import RunConflict, RunNotFound, run_event_apply
from runs.services.pending_event import pending_event_clear
from runs.services.retention import finished_runs_purge as runs_purge
from runs.services.trip_operations import trip_operations_sync as operations_sync


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
        pending_event_clear(get_redis(), run_id, event)
    decision = outcome.decision
    return {
        "run_id": run_id,
        "event": event,
        "accepted": decision.accepted,
        "state": decision.target.value,
        "reasons": list(decision.reasons),
    }


@shared_task(name="runs.trip_operations_sync")
def trip_operations_sync() -> int:
    """Write ``keys.TRIP_OPERATIONS`` whole from PostgreSQL; returns how many it holds."""
    return operations_sync()


@shared_task(name="runs.purge_finished_runs")
def finished_runs_purge() -> int:
    """Delete the finished runs past ``RUN_RETENTION_DAYS``; returns how many."""
    return runs_purge(retention_days=settings.RUN_RETENTION_DAYS)
