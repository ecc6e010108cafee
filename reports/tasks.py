"""Celery tasks of the reports: the daily summaries (beat, ``reports-summarize-days``).

Importing the prediction log's tasks registers them with autodiscovery (which imports
``reports.tasks`` only).
"""

from __future__ import annotations

from celery import shared_task

from reports.prediction_log import tasks as prediction_log_tasks  # noqa: F401
from reports.summaries import summarize_due_days


@shared_task(name="reports.summarize_days", ignore_result=True)
def summarize_days() -> dict[str, int]:
    """Summarize the service days that are over (idempotent: a re-run replaces)."""
    return summarize_due_days()
