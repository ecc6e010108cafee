"""`make bench-pipeline`: N tracked vehicles through broker, worker(s), Celery, beat and web.

``python -m benchmarks.pipeline --vehicles 2000 --workers 1`` (``--workers 1,3`` measures one
worker, then three on the same runs):

1. Private services under a temporary folder (``benchmarks.chaos.stack.Stack``: a
   PostgreSQL cluster, Redis as production runs it, Mosquitto with the shipped
   ``deploy/mosquitto/mosquitto.conf``); migrations; the generated network
   (``benchmarks.generated_network``: one trip per vehicle, all under way) through the real
   importer; every vehicle's run brought In Progress through the lifecycle service.
2. The web server (uvicorn, serving the feeds), ``--workers`` realtime-engine workers
   (``celery -A databus worker`` with the MQTT ingest bootstep, every batch observer, the
   lifecycle and feed tasks; replica slots ``w1``… on one shared subscription) and beat
   (feeds built every ``--feed-interval`` seconds, the scans on their schedules).
3. The publisher process (``benchmarks.pipeline.publisher``: pre-encoded QoS 1 packets
   on raw sockets) drives a ramp: a warm-up, then steps of ``--step-seconds`` in which
   every vehicle reports every 8, 4, 2, 1 s (``--intervals``), each step twice the rate
   of the one before. A step is *sustained* when publish → Redis latency does not grow
   through it (median of its last third within ``LAG_GROWTH_S`` of its first third, and
   under ``LAG_LIMIT_S``); the ramp stops at the first step that is not.
4. For each step: the CPU of every process tree from /proc (µs per published message:
   the workers, each worker, beat, web, broker, Redis, PostgreSQL, the publisher, this
   harness); each worker's mean batch (messages per flush, from its metrics port: what
   a batch's fixed cost is shared by); p50/p99 publish → position in Redis and → stop
   status in Redis (a sample of vehicles polled every 20 ms), publish → VehiclePositions
   and → TripUpdates served over HTTP (every vehicle, feeds polled every 250 ms). At the
   highest sustained step: Redis ``used_memory`` over the baseline before any run, per
   vehicle (one run each); position history and stop-event rows and bytes per message.

The figures are only as steady as the machine: the table says how loaded it was
(``/proc/loadavg`` before the run).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks.chaos.stack import Stack, StackOptions, machine
from benchmarks.generated_network import network_generate, network_import, runs_start
from benchmarks.pipeline.plan import RampPlan, Step, reports_at, steps_text
from benchmarks.pipeline.probes import (
    FeedProbe,
    HotStateProbe,
    PublishTimes,
    Sightings,
    batch_totals,
    cpu_snapshot,
    redis_used_memory,
    table_footprint,
)
from tests.support.processes import ManagedProcess, free_port, port_answers, wait_for

ROOT = Path(__file__).resolve().parents[2]
LAG_GROWTH_S = 0.5
LAG_LIMIT_S = 2.0
SETTLE_S = 3.0  # after a step, for its last fixes to reach Redis and be seen
# The publisher's pre-encoding time per packet with a margin: about 15 µs on a quiet core,
# several times that when the machine is shared (it must be done before the first second).
ENCODE_US = 100.0
KINDS = (
    "redis position",
    "redis stop status",
    "feed VehiclePositions",
    "feed TripUpdates",
)


@dataclass
class StepResult:
    step: Step
    first: int
    end: int
    published: int
    cpu_s: dict[str, float]
    latencies: dict[str, list[float]]
    sustained: bool
    lag_note: str
    memory_bytes: int = 0
    # Each worker's mean messages per flushed batch through the step.
    batch_means: dict[str, float] = field(default_factory=dict)


@dataclass
class RampResult:
    steps: list[StepResult]
    published: int  # by the publisher, warm-up included
    tables: dict[str, tuple[int, int]]  # rows and bytes added over the whole ramp
    totals: dict[str, tuple[int, int]]  # rows and bytes of each table afterwards


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def lag_verdict(samples: list[tuple[int, float]], first: int, end: int) -> tuple[bool, str]:
    """Whether publish → Redis latency held through a step; ``samples`` are (second, latency)."""
    if not samples:
        return False, "no fix reached Redis"
    third = max(1, (end - first) // 3)
    early = [lat for second, lat in samples if second < first + third]
    late = [lat for second, lat in samples if second >= end - third]
    if not early or not late:
        return False, "too few samples"
    early_p50, late_p50 = statistics.median(early), statistics.median(late)
    growth = late_p50 - early_p50
    held = growth <= LAG_GROWTH_S and late_p50 <= LAG_LIMIT_S
    return held, f"p50 {early_p50 * 1e3:.0f} → {late_p50 * 1e3:.0f} ms"


class Bench:
    def __init__(self, options: argparse.Namespace, workdir: Path) -> None:
        self.options = options
        self.workdir = workdir
        self.root = f"pipeline-{uuid.uuid4().hex[:8]}"
        self.stack = Stack(
            workdir,
            StackOptions(
                speedup=1.0,
                feed_build_interval_s=options.feed_interval,
                topic_root=self.root,
            ),
        )
        self.stack.options.extra_env["CACHE_REDIS_URL"] = (
            f"redis://127.0.0.1:{self.stack.redis_port}/3"
        )
        self.web_port = free_port()
        self.network = None
        self.run_ids: dict[str, str] = {}
        self.baseline_memory = 0
        self.tables: dict[str, str] = {}
        self.metrics_ports: dict[str, int] = {}  # each worker's exporter

    # ----- set-up ---------------------------------------------------------------------------

    def prepare(self) -> None:
        options = self.options
        began = time.monotonic()
        self.stack.start_services()
        self.stack.point_django_here()
        os.environ["CACHE_REDIS_URL"] = self.stack.options.extra_env["CACHE_REDIS_URL"]
        import django

        django.setup()
        from django.core.management import call_command

        from databus.redis import get_redis
        from realtime_engine.models import PositionRecord, StopEvent

        call_command("migrate", "--noinput", verbosity=0)
        # Placed so that the vehicles are between 30 and 50 % along their trips once their
        # runs are up (about 25 ms of wall time per run here) and the ramp begins.
        at = time.time() + 30 + options.vehicles * 0.03
        self.network = network_generate(options.vehicles, at=at)
        network_import(self.network, self.workdir / "gtfs")
        self.tables = {
            "position history": PositionRecord._meta.db_table,
            "stop events": StopEvent._meta.db_table,
        }
        self.redis = get_redis()
        self.baseline_memory = redis_used_memory(self.redis)
        imported = time.monotonic()
        self.run_ids = runs_start(self.network, processes=2)
        print(
            f"set-up: services and import {imported - began:.0f} s, "
            f"{len(self.run_ids)} runs In Progress in {time.monotonic() - imported:.0f} s",
            flush=True,
        )
        (self.workdir / "logs").mkdir(exist_ok=True)
        self.stack.start_web(self.web_port)
        wait_for(lambda: port_answers(self.web_port), 60, "web server")

    def start_workers(self, count: int) -> None:
        for slot in range(1, count + 1):
            name = f"w{slot}"
            if name not in self.stack.workers:
                self.metrics_ports[name] = free_port()
                self.stack.start_worker(name, metrics_port=self.metrics_ports[name])
        for slot in range(1, count + 1):
            self.stack.wait_subscribed(f"w{slot}")

    def processes(self) -> dict[str, int]:
        stack = self.stack
        named = {f"worker {name}": handle.process.pid for name, handle in stack.workers.items()}
        named |= {"beat": stack.beats["beat"].process.pid} if "beat" in stack.beats else {}
        named["web"] = stack.others["web"].process.pid
        named["broker"] = stack.broker.process.pid
        named["redis"] = stack.redis.process.pid
        postmaster = stack.postgres.datadir / "postmaster.pid"
        named["postgres"] = int(postmaster.read_text().split()[0])
        if "publisher" in stack.others:
            named["publisher"] = stack.others["publisher"].process.pid
        named["harness"] = os.getpid()
        return named

    # ----- one ramp -------------------------------------------------------------------------

    def ramp(self, workers: int) -> RampResult:
        options = self.options
        self.start_workers(workers)
        steps = (
            Step(options.warmup_seconds, options.intervals[0]),
            *(Step(options.step_seconds, interval) for interval in options.intervals),
        )
        messages = sum(options.vehicles * s.seconds / s.interval_s for s in steps)
        start = int(time.time() + 5 + messages * ENCODE_US / 1e6) + 1
        plan = RampPlan(start, steps)
        log_path = self.workdir / f"publisher-{workers}.log"
        tables_before = {n: table_footprint(t) for n, t in self.tables.items()}
        publisher = self._start_publisher(plan, log_path)
        publish_times = PublishTimes(log_path)
        sightings = Sightings()
        index_of = {trip.vehicle_id: trip.index for trip in self.network.trips}
        every = max(1, len(self.network.trips) // options.sample)
        sample = [
            (t.index, t.vehicle_id, self.run_ids[t.vehicle_id]) for t in self.network.trips[::every]
        ]
        probes = [
            HotStateProbe(self.redis, sample, sightings),
            FeedProbe(self.web_port, index_of, sightings),
        ]
        for probe in probes:
            probe.start()
        results = []
        try:
            for number, (step, first, end) in enumerate(plan.windows()):
                _sleep_until(first)
                if number == 0 and "beat" not in self.stack.beats:
                    # Once every vehicle has reported: a run whose first fix is older than
                    # the stale threshold would otherwise lose its signal at the first scan.
                    _sleep_until(first + step.interval_s + 1)
                    self.stack.start_beat("beat")
                before = cpu_snapshot(self.processes())
                batches_before = self.batch_snapshot(workers)
                _sleep_until(end)
                after = cpu_snapshot(self.processes())
                batches_after = self.batch_snapshot(workers)
                if end < plan.end and publisher.process.poll() is not None:
                    raise RuntimeError(f"the publisher stopped: {publisher.log()[-2000:]}")
                time.sleep(SETTLE_S)
                publish_times.refresh()
                result = self._step_result(
                    step, first, end, before, after, sightings, publish_times
                )
                result.memory_bytes = redis_used_memory(self.redis) - self.baseline_memory
                result.batch_means = _batch_means(batches_before, batches_after)
                if not number:
                    print(
                        f"    warm-up, every {step.interval_s} s for {step.seconds} s: "
                        f"{'settled' if result.sustained else 'NOT SETTLED'} ({result.lag_note})",
                        flush=True,
                    )
                else:  # the warm-up is not a step of the ramp
                    results.append(result)
                    print(_step_line(result, options.vehicles), flush=True)
                    if not result.sustained:
                        break
        finally:
            publisher.stop(signal.SIGTERM, timeout=30)
            for probe in probes:
                probe.stop()
        summary = publisher.log().strip().splitlines()[-1]
        print(f"    publisher: {summary}", flush=True)
        self._drain()
        tables_after = {n: table_footprint(t) for n, t in self.tables.items()}
        tables = {
            name: (
                tables_after[name][0] - tables_before[name][0],
                tables_after[name][1] - tables_before[name][1],
            )
            for name in self.tables
        }
        published = int(summary.split()[1]) if summary.startswith("published") else 0
        return RampResult(results, published, tables, tables_after)

    def batch_snapshot(self, workers: int) -> dict[str, tuple[float, float]]:
        """(messages, batches) flushed so far by each of the first ``workers`` workers."""
        return {
            f"w{slot}": batch_totals(self.metrics_ports[f"w{slot}"])
            for slot in range(1, workers + 1)
        }

    def _start_publisher(self, plan: RampPlan, log_path: Path) -> ManagedProcess:
        output = self.workdir / "logs" / "publisher.log"
        command = [
            sys.executable,
            "-m",
            "benchmarks.pipeline.publisher",
            "--port",
            str(self.stack.mqtt_port),
            "--root",
            self.root,
            "--vehicles",
            str(self.options.vehicles),
            "--at",
            repr(self.network.at),
            "--start",
            str(plan.start),
            "--steps",
            steps_text(plan.steps),
            "--connections",
            str(self.options.connections),
            "--log",
            str(log_path),
        ]
        with output.open("ab") as out:
            process = subprocess.Popen(command, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)
        self.stack.others["publisher"] = ManagedProcess(process, output)
        return self.stack.others["publisher"]

    def _step_result(self, step, first, end, before, after, sightings, publish_times):
        published = sum(
            1
            for second in range(first, end)
            for trip in self.network.trips
            if reports_at(trip.index, second, step.interval_s)
        )
        cpu = {name: after[name] - before.get(name, 0.0) for name in after if name in before}
        latencies = {}
        for kind in KINDS:
            values = []
            for index, second, seen in sightings.of(kind):
                sent = publish_times.of(index, second)
                if first <= second < end and sent is not None:
                    values.append(seen - sent)
            latencies[kind] = values
        redis_samples = [
            (second, seen - sent)
            for index, second, seen in sightings.of("redis position")
            if first <= second < end and (sent := publish_times.of(index, second)) is not None
        ]
        sustained, note = lag_verdict(redis_samples, first, end)
        return StepResult(step, first, end, published, cpu, latencies, sustained, note)

    def _drain(self, timeout_s: float = 120.0) -> None:
        """Wait until the position history stops growing: the backlog, if any, is consumed."""
        table = self.tables["position history"]
        deadline = time.monotonic() + timeout_s
        last = -1
        while time.monotonic() < deadline:
            rows = table_footprint(table)[0]
            if rows == last:
                return
            last = rows
            time.sleep(3)

    def run_states(self) -> dict[str, int]:
        from collections import Counter

        from runs.models import Run

        return dict(Counter(Run.objects.values_list("run_lifecycle_state", flat=True)))

    def print_footprint(self) -> None:
        """The hot state by key template (``benchmarks.footprint``), as the ramp left it."""
        from benchmarks.footprint import footprint_lines, redis_footprint

        vehicles = len(self.network.trips)
        print("hot state by key template after the ramp (MEMORY USAGE):")
        for line in footprint_lines(redis_footprint(self.redis), vehicles=vehicles, runs=vehicles):
            print(line)

    def close(self) -> None:
        self.stack.close()


def _sleep_until(epoch: float) -> None:
    delay = epoch - time.time()
    if delay > 0:
        time.sleep(delay)


def _us_per_message(seconds: float, messages: int) -> float:
    return seconds * 1e6 / messages if messages else float("nan")


def _batch_means(
    before: dict[str, tuple[float, float]], after: dict[str, tuple[float, float]]
) -> dict[str, float]:
    means = {}
    for name, (messages, batches) in after.items():
        messages_before, batches_before = before.get(name, (0.0, 0.0))
        flushed = batches - batches_before
        means[name] = (messages - messages_before) / flushed if flushed else float("nan")
    return means


def _batch_cell(means: dict[str, float]) -> str:
    return " / ".join(f"{means[name]:.0f}" for name in sorted(means)) or "-"


def _latency_cells(values: list[float]) -> str:
    if not values:
        return f"{'-':>7} {'-':>7}"
    return f"{_percentile(values, 0.5) * 1e3:>7.0f} {_percentile(values, 0.99) * 1e3:>7.0f}"


def _step_line(result: StepResult, vehicles: int) -> str:
    workers = sum(v for k, v in result.cpu_s.items() if k.startswith("worker "))
    return (
        f"    every {result.step.interval_s} s ({result.step.rate(vehicles):.0f} msg/s): "
        f"workers {_us_per_message(workers, result.published):.0f} µs/msg, "
        f"batch {_batch_cell(result.batch_means)}, "
        f"{'sustained' if result.sustained else 'LAG GROWS'} ({result.lag_note})"
    )


def print_table(workers: int, ramp: RampResult, vehicles: int, feed_interval: int) -> None:
    results = ramp.steps
    print(f"\n{workers} worker(s), {vehicles} vehicles on runs In Progress")
    header = (
        f"{'reporting':>10} {'msg/s':>7} {'published':>9} {'held':>5} {'worker µs/msg':>14} "
        f"{'batch':>14}"
    )
    for kind in KINDS:
        header += f" | {kind + ' p50/p99 ms':>30}"
    print(header)
    for r in results:
        cpu = sum(v for k, v in r.cpu_s.items() if k.startswith("worker "))
        line = (
            f"{'every ' + str(r.step.interval_s) + ' s':>10} {r.published / r.step.seconds:>7.0f} "
            f"{r.published:>9} {'yes' if r.sustained else 'NO':>5} "
            f"{_us_per_message(cpu, r.published):>14.0f} {_batch_cell(r.batch_means):>14}"
        )
        for kind in KINDS:
            line += f" | {_latency_cells(r.latencies[kind]):>30}"
        print(line)
    print("\nCPU µs per published message, by process tree:")
    names = sorted({name for r in results for name in r.cpu_s})
    print(f"{'reporting':>10} " + " ".join(f"{name:>10}" for name in names))
    for r in results:
        cells = " ".join(
            f"{_us_per_message(r.cpu_s.get(name, 0.0), r.published):>10.0f}" for name in names
        )
        print(f"{'every ' + str(r.step.interval_s) + ' s':>10} {cells}")
    held = [r for r in results if r.sustained]
    if not held:
        print("\nno step sustained")
        return
    best = max(held, key=lambda r: r.published / r.step.seconds)
    rate = best.published / best.step.seconds
    ceiling = "" if best is not results[-1] else " (the ramp's top: the ceiling is higher)"
    print(f"\nhighest sustained rate: {rate:.0f} msg/s{ceiling}")
    print(
        f"Redis used_memory over the empty baseline at that step: "
        f"{best.memory_bytes / 2**20:.1f} MiB, {best.memory_bytes / vehicles / 1024:.1f} KiB "
        "per vehicle (one run each)"
    )
    for name, (rows, size) in ramp.tables.items() if ramp.published else ():
        total_rows, total_bytes = ramp.totals[name]
        print(
            f"PostgreSQL {name}, over the whole ramp ({ramp.published} messages): {rows} rows "
            f"({rows / ramp.published:.3f} per message), {size / ramp.published:.0f} bytes per "
            "message (pg_total_relation_size delta, indexes included); the table holds "
            f"{total_rows} rows, {total_bytes / max(total_rows, 1):.0f} bytes per row"
        )
    print(f"(feeds are built every {feed_interval} s: publish → feed includes that wait)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vehicles", type=int, default=2000)
    parser.add_argument("--workers", default="1", help="worker counts to measure in turn, e.g. 1,3")
    parser.add_argument("--intervals", default="8,4,2,1", help="reporting intervals, s")
    parser.add_argument("--step-seconds", type=int, default=25)
    parser.add_argument(
        "--warmup-seconds",
        type=int,
        default=0,
        help="default 20 s + 20 ms per vehicle: a worker's first fix of each trip loads "
        "its geometry from PostgreSQL (cold cache), the warm-up absorbs it",
    )
    parser.add_argument("--feed-interval", type=int, default=15, help="FEED_BUILD_INTERVAL_S")
    parser.add_argument("--sample", type=int, default=100, help="vehicles polled in Redis")
    parser.add_argument("--connections", type=int, default=4, help="publisher connections")
    parser.add_argument("--keep", action="store_true", help="keep the work folder and logs")
    options = parser.parse_args()
    options.intervals = [int(v) for v in options.intervals.split(",")]
    options.warmup_seconds = options.warmup_seconds or 20 + options.vehicles // 50
    worker_counts = [int(v) for v in options.workers.split(",")]
    load = Path("/proc/loadavg").read_text().split()[:3]
    print(
        f"bench-pipeline: {options.vehicles} vehicles, workers {options.workers}, "
        f"{machine()}, load average {' '.join(load)} before the run",
        flush=True,
    )
    workdir = Path(tempfile.mkdtemp(prefix="bench-pipeline-"))
    bench = Bench(options, workdir)
    began = time.monotonic()
    try:
        bench.prepare()
        for workers in worker_counts:
            print(f"ramp with {workers} worker(s):", flush=True)
            ramp = bench.ramp(workers)
            print_table(workers, ramp, options.vehicles, options.feed_interval)
            print(f"runs by state afterwards: {bench.run_states()}", flush=True)
            if workers == worker_counts[0]:
                bench.print_footprint()
            print()
    finally:
        with contextlib.suppress(Exception):
            bench.close()
        if options.keep:
            print(f"work folder kept: {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    print(f"bench-pipeline took {dt.timedelta(seconds=round(time.monotonic() - began))}")


if __name__ == "__main__":
    main()
