"""The MQTT ingest as a Celery worker bootstep (``celery -A databus worker``).

Registered in ``databus.celery``; included only where ``MQTT_CONSUMER_ENABLED``
is true. ``start`` runs one ``TelemetryConsumer`` in a thread of the worker (and
the worker's Prometheus exporter on ``WORKER_METRICS_PORT`` unless 0); ``stop``
is reentrant and silent: it asks the consumer to write and acknowledge the batch
in hand, disconnect, and waits for it. A Worker step (not a Consumer step), so a
Celery broker reconnect does not restart it.
"""

from __future__ import annotations

import logging
import threading

from celery import bootsteps
from django.conf import settings

logger = logging.getLogger(__name__)

STOP_TIMEOUT_S = 30


class MqttIngestStep(bootsteps.StartStopStep):
    label = "MQTT ingest"

    def __init__(self, parent, **kwargs) -> None:
        super().__init__(parent, **kwargs)
        self.consumer = None
        self.thread: threading.Thread | None = None

    def include_if(self, parent) -> bool:
        return bool(settings.MQTT_CONSUMER_ENABLED)

    def start(self, parent) -> None:
        from realtime_engine.ingest.service import build_consumer

        _start_metrics_exporter(settings.WORKER_METRICS_PORT)
        self.consumer = build_consumer(client_id=f"databus-ingest-{parent.hostname}")
        self.thread = threading.Thread(target=self.consumer.run, name="mqtt-ingest", daemon=True)
        self.thread.start()
        logger.info("MQTT ingest started (client id %s)", self.consumer.config.client_id)

    def stop(self, parent) -> None:
        if self.consumer is not None:
            self.consumer.request_stop()
        if self.thread is not None and self.thread is not threading.current_thread():
            self.thread.join(STOP_TIMEOUT_S)

    terminate = stop
    shutdown = stop


def _start_metrics_exporter(port: int) -> None:
    if not port:
        return
    from prometheus_client import start_http_server

    from databus.metrics import REGISTRY

    try:
        start_http_server(port, registry=REGISTRY)
    except OSError as error:
        logger.warning("worker metrics port %s unavailable: %s", port, error)
