"""The MQTT ingest as a Celery worker bootstep (``celery -A databus worker``).

Registered in ``databus.celery``; included only where ``MQTT_CONSUMER_ENABLED``
is true. ``start`` runs one ``TelemetryConsumer`` in a thread of the worker (and
the worker's Prometheus exporter on ``WORKER_METRICS_PORT`` unless 0); ``stop``
(SIGTERM: Celery's warm shutdown) is reentrant and silent: it asks the consumer to
drain — write and acknowledge the batch in hand, disconnect — and waits for it at
most ``INGEST_DRAIN_S`` (plus ``STOP_MARGIN_S``). A Worker step (not a Consumer step), so a
Celery broker reconnect does not restart it.

An ingest thread that dies (an exception escapes ``TelemetryConsumer.run``) is
logged with its traceback and stops the worker with exit code 1, so that its
supervisor restarts it: a worker that answers Celery pings but ingests nothing is
worse than one that restarts.
"""

from __future__ import annotations

import logging
import threading

from celery import bootsteps
from celery.platforms import EX_FAILURE
from celery.worker import state as worker_state
from django.conf import settings

logger = logging.getLogger(__name__)

# Beyond the drain budget: sending the last acks and DISCONNECT (at most 1 s), the history
# thread's last half second.
STOP_MARGIN_S = 2.0


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
        self.consumer = build_consumer(hostname=parent.hostname)
        self.thread = threading.Thread(target=self._run, name="mqtt-ingest", daemon=True)
        self.thread.start()
        logger.info("MQTT ingest started (client id %s)", self.consumer.config.client_id)

    def _run(self) -> None:
        try:
            self.consumer.run()
        except Exception:
            logger.critical(
                "MQTT ingest thread died; stopping the worker with exit code %s",
                EX_FAILURE,
                exc_info=True,
            )
            _stop_worker(EX_FAILURE)
            return
        if not self.consumer.stop_requested:
            logger.critical("MQTT ingest thread ended unasked; stopping the worker")
            _stop_worker(EX_FAILURE)

    def stop(self, parent) -> None:
        if self.consumer is not None:
            self.consumer.request_stop()
        if self.thread is not None and self.thread is not threading.current_thread():
            self.thread.join(self.consumer.config.drain_s + STOP_MARGIN_S)

    terminate = stop
    shutdown = stop


def _stop_worker(exitcode: int) -> None:
    """A warm shutdown with ``exitcode``, as Celery's own SIGTERM handler requests one: the
    worker's event loop raises it on its next turn (``state.maybe_shutdown``)."""
    worker_state.should_stop = exitcode


def _start_metrics_exporter(port: int) -> None:
    if not port:
        return
    from prometheus_client import start_http_server

    from databus.metrics import REGISTRY

    try:
        start_http_server(port, registry=REGISTRY)
    except OSError as error:
        logger.warning("worker metrics port %s unavailable: %s", port, error)
