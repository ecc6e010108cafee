"""The realtime_engine app, and what it plugs into the layers below it when Django starts.

``databus`` sits at the bottom and must not import this app, yet the Celery worker has
to run this app's hot-state watch: ``ready`` connects it to the worker's signals. In a
process that is no worker (web, a management command) the signals are never sent.
"""

from __future__ import annotations

from celery.signals import worker_ready, worker_shutting_down
from django.apps import AppConfig


class RealtimeEngineConfig(AppConfig):
    name = "realtime_engine"
    verbose_name = "Realtime engine"

    def ready(self) -> None:
        # Every worker rebuilds hot state from PostgreSQL when Redis lost it (a thread
        # checking the epoch marker, realtime_engine.hot_state_watch).
        worker_ready.connect(_start_hot_state_watch, dispatch_uid="realtime_engine.hot_state_watch")
        worker_shutting_down.connect(
            _stop_hot_state_watch, dispatch_uid="realtime_engine.hot_state_watch"
        )


def _start_hot_state_watch(**_) -> None:
    from realtime_engine import hot_state_watch

    hot_state_watch.start()


def _stop_hot_state_watch(**_) -> None:
    from realtime_engine import hot_state_watch

    hot_state_watch.stop()
