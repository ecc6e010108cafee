"""Task metrics and the periodic tasks' records, from Celery's signals, read where operators
read them: a real worker's metrics port (a prefork worker: the children run the tasks, the
main process exports), the web's `/metrics`, and the records the status page reads.
"""

from __future__ import annotations

import time
import urllib.request

import pytest
from celery.utils.nodenames import gethostname
from prometheus_client.parser import text_string_to_metric_families

from databus import keys
from databus.celery import app
from databus.task_metrics import NODE_COLLECTOR, bucket_of
from databus.task_records import periodic_tasks, task_records_get
from schedule_engine.feeds.store import FeedName, feed_get
from schedule_engine.feeds.tasks import TASK_NAME as FEEDS_BUILD
from schedule_engine.feeds.tests.fleet_hot_state import write_fleet
from tests.support.processes import free_port, wait_for


def samples(text: str) -> dict[tuple[str, frozenset], float]:
    """Every sample of a Prometheus text exposition, by name and labels."""
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def labelled(found: dict, name: str, **labels: str) -> float | None:
    return found.get((name, frozenset(labels.items())))


def web_metrics(client, token: dict) -> dict:
    response = client.get("/metrics", **token)
    assert response.status_code == 200
    return samples(response.content.decode())


@pytest.fixture(autouse=True, scope="module")
def _tasks_registered():
    app.loader.import_default_modules()  # what a worker does at start: autodiscovery


@pytest.fixture
def metrics_token(settings) -> dict[str, str]:
    settings.METRICS_TOKEN = "task-metrics-token-0123456789abcdef"
    return {"HTTP_AUTHORIZATION": f"Bearer {settings.METRICS_TOKEN}"}


@pytest.fixture
def node_exporter():
    """This process counted as a worker node (``task.apply()`` runs under the host name)."""
    NODE_COLLECTOR.node = gethostname()
    yield NODE_COLLECTOR.node
    NODE_COLLECTOR.node = None


@pytest.mark.parametrize("task", [t.task for t in periodic_tasks()])
def test_each_periodic_task_run_is_counted_recorded_and_exported(
    task, transactional_db, redis_client, client, metrics_token, node_exporter
):
    result = app.tasks[task].apply()

    assert result.state == "SUCCESS", result.traceback
    record = next(r for r in task_records_get(redis_client) if r.task == task)
    assert (record.runs, record.failures, record.last_state) == (1, 0, "SUCCESS")
    assert record.last_success_at == record.last_run_at
    assert record.last_duration_s >= 0
    found = web_metrics(client, metrics_token)
    assert labelled(found, "databus_task_last_success_timestamp_seconds", task=task) == (
        record.last_success_at
    )
    assert labelled(found, "databus_task_interval_seconds", task=task) == record.interval_s
    assert labelled(found, "databus_task_runs_total", task=task, worker=node_exporter) == 1
    assert labelled(found, "databus_task_failures_total", task=task, worker=node_exporter) == 0
    assert (
        labelled(found, "databus_task_duration_seconds_count", task=task, worker=node_exporter) == 1
    )


def test_a_failing_periodic_task_counts_a_failure_and_keeps_its_error(
    transactional_db, redis_client, client, metrics_token, node_exporter, monkeypatch
):
    import realtime_engine.tasks

    task = "runs.scan_stale_runs"
    app.tasks[task].apply()  # one success first: a failure must not erase it

    def broken_scan(*_args, **_kwargs):
        raise LookupError("no thresholds")

    monkeypatch.setattr(realtime_engine.tasks, "scan", broken_scan)
    assert app.tasks[task].apply().state == "FAILURE"

    record = next(r for r in task_records_get(redis_client) if r.task == task)
    assert (record.runs, record.failures) == (2, 1)
    assert (record.last_state, record.last_error) == ("FAILURE", "LookupError")
    assert record.last_success_at is not None and record.last_success_at < record.last_run_at
    [failure] = record.recent_failures
    assert (failure.error, failure.message, failure.at) == (
        "LookupError",
        "no thresholds",
        record.last_run_at,
    )
    found = web_metrics(client, metrics_token)
    assert labelled(found, "databus_task_runs_total", task=task, worker=node_exporter) == 2
    assert labelled(found, "databus_task_failures_total", task=task, worker=node_exporter) == 1
    assert labelled(found, "databus_task_last_success_timestamp_seconds", task=task) == (
        record.last_success_at
    )


def prefork_worker(process_env, celery_worker_factory, name: str, *, concurrency: int) -> int:
    """A ready prefork worker exporting its metrics; its metrics port."""
    port = free_port()
    worker = celery_worker_factory(
        {**process_env, "WORKER_METRICS_PORT": str(port)},
        name=name,
        args=("--pool=prefork", f"--concurrency={concurrency}"),
    )
    wait_for(lambda: "ready" in worker.log(), 60, "the worker ready")
    return port


def test_a_prefork_workers_metrics_port_exports_what_its_children_ran(
    process_env, celery_worker_factory, redis_client
):
    port = prefork_worker(process_env, celery_worker_factory, "metrics", concurrency=2)
    for _ in range(3):
        assert app.send_task("databus.ping").get(timeout=30) == "pong"
    app.send_task("runs.scan_stale_runs").get(timeout=30)

    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    found = samples(text)
    node = next(
        dict(labels)["worker"]
        for name, labels in found
        if name == "databus_task_runs_total" and dict(labels)["task"] == "databus.ping"
    )
    assert node.startswith("metrics@")
    assert labelled(found, "databus_task_runs_total", task="databus.ping", worker=node) == 3
    assert (
        labelled(found, "databus_task_duration_seconds_count", task="databus.ping", worker=node)
        == 3
    )
    inf = labelled(
        found, "databus_task_duration_seconds_bucket", task="databus.ping", worker=node, le="+Inf"
    )
    assert inf == 3
    assert labelled(found, "databus_task_runs_total", task="runs.scan_stale_runs", worker=node) == 1
    assert labelled(
        found, "databus_task_last_success_timestamp_seconds", task="runs.scan_stale_runs"
    )


def test_a_prefork_workers_metrics_port_exports_what_its_feed_build_left_out(
    process_env, celery_worker_factory, redis_client
):
    # A feed build runs in a pool child: what it skips must be counted where it is exported.
    fleet = write_fleet(redis_client, int(time.time()))
    redis_client.hset(keys.run_stop_time_updates(fleet.in_progress_run), "updates", "[not json")
    port = prefork_worker(process_env, celery_worker_factory, "feeds", concurrency=1)

    app.send_task(FEEDS_BUILD)
    wait_for(lambda: feed_get(redis_client, FeedName.TRIP_UPDATES), 60, "the feeds built")

    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    skipped = labelled(
        samples(text),
        "databus_feed_entities_skipped_total",
        feed="trip_updates",
        reason="bad_stop_time_updates",
    )
    assert skipped == 1


def test_durations_fall_in_the_first_bucket_that_holds_them():
    assert [bucket_of(d) for d in (0.0, 0.01, 0.011, 299.0, 301.0)] == [
        "0.01",
        "0.01",
        "0.05",
        "300.0",
        "+Inf",
    ]
