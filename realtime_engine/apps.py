"""The realtime_engine app, and what it plugs into the layers below it when Django starts.

The apps below must not import this one, yet they need two things from it: the services
of ``runs`` and ``schedule_engine`` tell live clients of their changes through the
``databus.notify`` port, whose listener ``ready`` installs (the WebSocket fan-out); and
the Celery worker runs this app's ingest bootsteps (MQTT, Redis Streams), which ``ready``
adds to the Celery app's worker steps, and its hot-state watch, which ``ready`` connects to
the worker's signals (never sent in a process that is no worker: web, a management command).
"""

from __future__ import annotations

from celery.signals import worker_ready, worker_shutting_down
from django.apps import AppConfig

from databus import notify


class RealtimeEngineConfig(AppConfig):
    name = "realtime_engine"
    verbose_name = "Realtime engine"

    def ready(self) -> None:
        from databus.celery import app
        from realtime_engine.mqtt import MqttIngestStep
        from realtime_engine.streams_ingest import StreamsIngestStep
        from realtime_engine.ws.notifications import LiveFanout

        notify.install(LiveFanout())
        # Each step's include_if reads its *_CONSUMER_ENABLED setting.
        app.steps["worker"].add(MqttIngestStep)
        app.steps["worker"].add(StreamsIngestStep)
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
