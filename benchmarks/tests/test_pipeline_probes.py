"""The pipeline bench's readings: a process tree's CPU from /proc, publish times from the
publisher's log, and the verdict on whether a step's latency held."""

from __future__ import annotations

import subprocess
import sys
import time

from benchmarks.pipeline.__main__ import lag_verdict
from benchmarks.pipeline.probes import PublishTimes, tree_cpu_s


def test_a_process_tree_counts_its_children_cpu(tmp_path):
    busy = "import time\nend = time.process_time() + 0.3\nwhile time.process_time() < end: pass\n"
    script = f"import subprocess, sys, time\nsubprocess.run([sys.executable, '-c', {busy!r}])\n"
    parent = subprocess.Popen([sys.executable, "-c", script + "time.sleep(30)\n"])
    try:
        deadline = time.monotonic() + 20
        while tree_cpu_s(parent.pid) < 0.3 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert tree_cpu_s(parent.pid) >= 0.3  # the exited child's CPU stays in the tree
    finally:
        parent.kill()
        parent.wait()
    assert tree_cpu_s(parent.pid) == 0.0


def test_publish_times_are_read_as_the_log_grows(tmp_path):
    log = tmp_path / "publisher.log"
    log.write_text("100 0 100.01\n100 1 100.11\n101 0 10")
    times = PublishTimes(log)
    times.refresh()
    assert times.of(20, 100) == 100.01  # vehicle 20 is in burst 0
    assert times.of(31, 100) == 100.11
    assert times.of(10, 101) is None  # its line is not complete yet
    with log.open("a") as handle:
        handle.write("1.02\n")
    times.refresh()
    assert times.of(10, 101) == 101.02


def test_a_step_holds_unless_its_latency_grows():
    steady = [(second, 0.03) for second in range(0, 24)]
    growing = [(second, 0.1 * second) for second in range(0, 24)]
    assert lag_verdict(steady, 0, 24)[0]
    assert not lag_verdict(growing, 0, 24)[0]
    assert not lag_verdict([], 0, 24)[0]


def test_batch_totals_are_read_from_a_worker_exporter():
    from prometheus_client import CollectorRegistry, Histogram, start_http_server

    from benchmarks.pipeline.probes import batch_totals
    from tests.support.processes import free_port

    registry = CollectorRegistry()
    sizes = Histogram("databus_ingest_batch_size", "Messages per flushed batch", registry=registry)
    port = free_port()
    server, thread = start_http_server(port, addr="127.0.0.1", registry=registry)
    try:
        for size in (20, 30, 100):
            sizes.observe(size)
        assert batch_totals(port) == (150.0, 3.0)
    finally:
        server.shutdown()
        thread.join()
    assert batch_totals(port) == (0.0, 0.0)  # nothing answers: no batches seen
