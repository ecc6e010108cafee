"""Retention of finished runs: a run that ended more than ``RUN_RETENTION_DAYS`` ago leaves
PostgreSQL with its stop events, lifecycle transitions and segment samples (their foreign
keys cascade).

The reports keep what outlives them: the daily summaries (``reports.summaries``) and the
prediction-accuracy tallies hold each past day's totals, so on-time performance and
accuracy reach back further than the raw events that running times and headways are
measured from. Runs in a claiming state are never purged, whatever their date: they are
live, or a dispatcher has yet to close them. Deleted in chunks, each in its own
transaction, so that the locks a purge holds stay short on a table the lifecycle writes.
"""

from __future__ import annotations

import datetime as dt
import logging

from django.db import transaction
from django.utils import timezone

from runs.domain.lifecycle.states import FINAL_STATES
from runs.models import Run

logger = logging.getLogger(__name__)

# Runs per transaction: at city scale a day is about 60,000 runs and 1.8 M stop events.
PURGE_CHUNK = 1000


def finished_runs_purge(
    *, retention_days: int, now: dt.datetime | None = None, chunk: int = PURGE_CHUNK
) -> int:
    """Delete the finished runs whose service day is more than ``retention_days`` before
    ``now``'s (UTC), with what cascades from them; how many runs went."""
    cutoff = (timezone.now() if now is None else now).date() - dt.timedelta(days=retention_days)
    finished = Run.objects.filter(
        run_lifecycle_state__in=[state.value for state in FINAL_STATES], start_date__lt=cutoff
    )
    purged = 0
    while ids := list(finished.order_by("pk").values_list("pk", flat=True)[:chunk]):
        with transaction.atomic():
            Run.objects.filter(pk__in=ids).delete()
        purged += len(ids)
    if purged:
        logger.info("runs: %d finished runs before %s purged", purged, cutoff.isoformat())
    return purged
