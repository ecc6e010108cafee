"""What every ingest bootstep of the Celery worker does, whichever ingress it runs.

An ingest step (``realtime_engine.mqtt.MqttIngestStep``,
``realtime_engine.streams_ingest.StreamsIngestStep``; ``apps.py`` adds them, each
included where its ``*_CONSUMER_ENABLED`` setting is true, both in one worker if asked)
names its setting and how to build its consumer; this base does the rest. ``start`` runs
the consumer in a thread of the worker, and the worker's Prometheus exporter on
``WORKER_METRICS_PORT`` unless 0 (once per process, however many steps run); ``stop``
(SIGTERM: Celery's warm shutdown) is reentrant and silent: it asks the consumer to drain
— write and acknowledge the batch in hand — and waits for it at most its stop budget
(``stop_budget_s``: the consumer's ``drain_s``, plus what the ingress needs to notice) plus
``STOP_MARGIN_S``. A Worker step (not a Consumer step), so a Celery broker reconnect does
not restart it.

An ingest thread that dies (an exception escapes the consumer's ``run``) is logged with
its traceback and stops the worker with exit code 1, so that its supervisor restarts it: a
worker that answers Celery pings but ingests nothing is worse than one that restarts.
"""

from __future__ import annotations

import logging
import threading
from typing import Any, Protocol

from celery import bootsteps
from celery.platforms import EX_FAILURE
from celery.worker import state as worker_state
from django.conf import settings

from databus.task_metrics import start_worker_exporter

logger = logging.getLogger(__name__)

# Beyond the drain budget: sending the last acks, the history thread's last half second.
STOP_MARGIN_S = 2.0


class IngestConsumer(Protocol):
    config: Any  # with ``drain_s``

    @property
    def stop_requested(self) -> bool: ...

    def run(self) -> None: ...

    def request_stop(self) -> None: ...


class IngestStep(bootsteps.StartStopStep):
    """Subclasses set ``label``, ``enabled_setting`` and ``thread_name`` and build their
    consumer in ``build``."""

    enabled_setting = ""
    thread_name = "ingest"

    def __init__(self, parent, **kwargs) -> None:
        super().__init__(parent, **kwargs)
        self.consumer: IngestConsumer | None = None
        self.thread: threading.Thread | None = None

    def include_if(self, parent) -> bool:
        return bool(getattr(settings, self.enabled_setting))

    def build(self, parent) -> IngestConsumer:
        raise NotImplementedError

    def stop_budget_s(self, consumer: IngestConsumer) -> float:
        """How long the consumer may take to drain once asked to stop."""
        return consumer.config.drain_s

    def describe(self, consumer: IngestConsumer) -> str:
        """How the start-up log line names this consumer."""
        return ""

    def start(self, parent) -> None:
        start_metrics_exporter(settings.WORKER_METRICS_PORT)
        self.consumer = self.build(parent)
        self.thread = threading.Thread(target=self._run, name=self.thread_name, daemon=True)
        self.thread.start()
        logger.info("%s started%s", self.label, self.describe(self.consumer))

    def _run(self) -> None:
        try:
            self.consumer.run()
        except Exception:
            logger.critical(
                "%s thread died; stopping the worker with exit code %s",
                self.label,
                EX_FAILURE,
                exc_info=True,
            )
            stop_worker(EX_FAILURE)
            return
        if not self.consumer.stop_requested:
            logger.critical("%s thread ended unasked; stopping the worker", self.label)
            stop_worker(EX_FAILURE)

    def stop(self, parent) -> None:
        if self.consumer is not None:
            self.consumer.request_stop()
        if self.thread is not None and self.thread is not threading.current_thread():
            self.thread.join(self.stop_budget_s(self.consumer) + STOP_MARGIN_S)

    terminate = stop
    shutdown = stop


def stop_worker(exitcode: int) -> None:
    """A warm shutdown with ``exitcode``, as Celery's own SIGTERM handler requests one: the
    worker's event loop raises it on its next turn (``state.maybe_shutdown``)."""
    worker_state.should_stop = exitcode


def start_metrics_exporter(port: int) -> None:
    """The worker's exporter (``databus.task_metrics``: one per process, whichever step or
    bootstep asks first)."""
    start_worker_exporter(port)
