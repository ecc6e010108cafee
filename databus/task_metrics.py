"""Task metrics from Celery's signals: runs, failures and durations per task, per worker.

``task_prerun`` notes when a run starts; ``task_postrun`` (sent for every outcome, with
the state, and for ``task.apply()`` too) writes what it took, in one Redis round trip:

- into the worker node's counters (``keys.task_metrics``), so that whichever process ran
  it — a prefork child, a thread, the solo pool — the count lands where the worker's main
  process reads it: its exporter on ``WORKER_METRICS_PORT`` (``TaskMetricsStep``, a
  bootstep of every worker) reads the node's counters at scrape time. Prometheus counters
  kept in a prefork child would never be scraped.
- for a periodic task (one of beat's schedule), into its record (``databus.task_records``),
  which ``/readyz``, ``/metrics`` and the operators' status page read across processes.

A Redis failure here is logged and dropped: a metric must never fail the task it counts.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Iterator

import redis
from celery import bootsteps
from celery.signals import task_postrun, task_prerun
from django.conf import settings
from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector

from databus import keys
from databus.metrics import REGISTRY
from databus.redis import get_redis
from databus.task_records import PeriodicWorkCollector, periodic_task_names, record_run

logger = logging.getLogger(__name__)

# Upper bounds (s) of the duration histogram's buckets, +Inf implied: from a ping to the
# hourly partition maintenance.
DURATION_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)
_INF = "+Inf"
# keys.task_metrics fields are "<task>|<kind>"; kinds:
_RUNS, _FAILURES, _SUM = "runs", "failures", "sum"
_SEP = "|"

_started: dict[str, float] = {}  # task id → perf_counter at prerun, in this process


def bucket_of(duration_s: float) -> str:
    """The histogram bucket (its upper bound, as exported) a duration falls in. Pure."""
    for bound in DURATION_BUCKETS:
        if duration_s <= bound:
            return _bound_text(bound)
    return _INF


def _bound_text(bound: float) -> str:
    return repr(bound)


def _field(task: str, kind: str) -> str:
    return f"{task}{_SEP}{kind}"


@task_prerun.connect
def _on_prerun(task_id: str | None = None, **_) -> None:
    if task_id is not None:
        _started[task_id] = time.perf_counter()


@task_postrun.connect
def _on_postrun(task_id=None, task=None, state=None, retval=None, **_) -> None:
    started = _started.pop(task_id, None) if task_id is not None else None
    if task is None or started is None:
        return
    duration_s = time.perf_counter() - started
    node = getattr(task.request, "hostname", None) or default_node()
    error = retval if isinstance(retval, BaseException) else None
    try:
        record_finished_run(
            get_redis(),
            node,
            task.name,
            duration_s=duration_s,
            state=state or "",
            error=error,
            task_id=task_id,
        )
    except redis.RedisError as failure:
        logger.warning("task metrics of %s not written: %s", task.name, failure)


def record_finished_run(
    client: redis.Redis,
    node: str,
    task: str,
    *,
    duration_s: float,
    state: str,
    error: BaseException | None,
    task_id: str,
) -> None:
    """Count one finished run of ``task`` on worker ``node``; record it if periodic."""
    pipe = client.pipeline(transaction=False)
    counters = keys.task_metrics(node)
    pipe.hincrby(counters, _field(task, _RUNS), 1)
    if state == "FAILURE":
        pipe.hincrby(counters, _field(task, _FAILURES), 1)
    pipe.hincrbyfloat(counters, _field(task, _SUM), duration_s)
    pipe.hincrby(counters, _field(task, bucket_of(duration_s)), 1)
    if task in periodic_task_names():
        record_run(
            pipe,
            task,
            finished_at=time.time(),
            duration_s=duration_s,
            state=state,
            error=error,
            task_id=task_id,
        )
    pipe.execute()


def default_node() -> str:
    """The node name a run outside a worker (``task.apply()``) counts under."""
    return f"celery@{socket.gethostname()}"


class NodeTaskCollector(Collector):
    """This worker node's task counters and durations, read from Redis at scrape time.
    Exports nothing in a process that is no worker (``node`` unset)."""

    def __init__(self) -> None:
        self.node: str | None = None

    def describe(self) -> Iterator:
        yield from _families()

    def collect(self) -> Iterator:
        if self.node is None:
            return
        try:
            fields = get_redis().hgetall(keys.task_metrics(self.node))
        except redis.RedisError:
            return
        yield from node_families(self.node, fields)


def node_families(node: str, fields: dict[str, str]) -> Iterator:
    """The metric families of one node's counter hash. Pure."""
    runs, failures, duration = _families()
    per_task: dict[str, dict[str, float]] = {}
    for name, value in fields.items():
        task, _, kind = name.rpartition(_SEP)
        try:
            per_task.setdefault(task, {})[kind] = float(value)
        except ValueError:
            continue
    for task, counts in sorted(per_task.items()):
        labels = [task, node]
        runs.add_metric(labels, counts.get(_RUNS, 0.0))
        failures.add_metric(labels, counts.get(_FAILURES, 0.0))
        cumulative, buckets = 0.0, []
        for bound in (*map(_bound_text, DURATION_BUCKETS), _INF):
            cumulative += counts.get(bound, 0.0)
            buckets.append((bound, cumulative))
        duration.add_metric(labels, buckets, counts.get(_SUM, 0.0))
    yield from (runs, failures, duration)


def _families() -> tuple[CounterMetricFamily, CounterMetricFamily, HistogramMetricFamily]:
    labels = ["task", "worker"]
    return (
        CounterMetricFamily("databus_task_runs", "Task runs finished, any outcome.", labels=labels),
        CounterMetricFamily("databus_task_failures", "Task runs that raised.", labels=labels),
        HistogramMetricFamily(
            "databus_task_duration_seconds", "Task run duration (prerun to postrun).", labels=labels
        ),
    )


NODE_COLLECTOR = NodeTaskCollector()
REGISTRY.register(NODE_COLLECTOR)
REGISTRY.register(PeriodicWorkCollector())

_exporter_lock = threading.Lock()
_exporter_started = False


def start_worker_exporter(port: int) -> None:
    """The worker's Prometheus exporter on ``port`` (0: none), once per process."""
    global _exporter_started
    if not port:
        return
    with _exporter_lock:
        if _exporter_started:
            return
        _exporter_started = True
    from prometheus_client import start_http_server

    try:
        start_http_server(port, registry=REGISTRY)
    except OSError as error:
        logger.warning("worker metrics port %s unavailable: %s", port, error)


class TaskMetricsStep(bootsteps.StartStopStep):
    """Every worker exports its node's task metrics on ``WORKER_METRICS_PORT``."""

    label = "task metrics"

    def start(self, parent) -> None:
        NODE_COLLECTOR.node = parent.hostname
        start_worker_exporter(settings.WORKER_METRICS_PORT)
