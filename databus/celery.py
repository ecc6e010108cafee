"""The Celery app (`celery -A databus worker` / `beat`) and its worker bootsteps.

Imports no app: the apps hook into the worker themselves. ``realtime_engine.apps``
adds its ingest bootsteps to ``app.steps["worker"]`` and connects the hot-state watch to
``worker_ready`` when Django starts, which the worker does (Celery's Django fix-up)
before it builds its blueprint from those steps. The task metrics (``databus.task_metrics``)
are the bus's own: their signal handlers connect when this module is imported, in every
process, and their bootstep exports them from every worker.
"""

from __future__ import annotations

import os

from celery import Celery

from databus.task_metrics import TaskMetricsStep

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "backend.settings")

app = Celery("databus")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks(
    [
        "databus",
        "runs",
        "alerts",
        "realtime_engine",
        "reports",
        "schedule_engine",
        "schedule_engine.feeds",
    ]
)

app.steps["worker"].add(TaskMetricsStep)


# The beat schedule reads Django settings, so it is set once the app's configuration is
# loaded, not when this module is imported: backend.settings itself imports the databus
# package (databus.env), and reading settings here would read them half-built.
@app.on_after_configure.connect
def _install_beat_schedule(sender: Celery, **_) -> None:
    from databus.beat import BEAT_SCHEDULE

    sender.conf.beat_schedule = BEAT_SCHEDULE
