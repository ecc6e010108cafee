"""The Celery app (`celery -A databus worker` / `beat`) and its worker bootsteps."""

from __future__ import annotations

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "backend.settings")

app = Celery("databus")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks(["databus", "runs", "realtime_engine", "schedule_engine",
                        "schedule_engine.feeds"])


def _beat_schedule() -> dict:
    from databus.beat import BEAT_SCHEDULE

    return BEAT_SCHEDULE


app.conf.beat_schedule = _beat_schedule()

# MQTT telemetry ingest runs inside the worker where MQTT_CONSUMER_ENABLED=true
# (the step's include_if); named by string so Django is not imported here.
app.steps["worker"].add("realtime_engine.mqtt:MqttIngestStep")
