"""`make soak`: 2,000 vehicles at 1 Hz for 30 minutes; worker, web and Redis memory must stay flat.

``python -m benchmarks.soak [--duration 1800] [--vehicles 2000] [--sim-vehicles 20]
[--interval 30] [--clients 5] [--workdir DIR]``

Runs the chaos stack (``benchmarks.chaos.stack``: private PostgreSQL, Redis, Mosquitto
with the shipped configuration; one realtime-engine worker, beat with the production
feed build interval) plus one web process (uvicorn, as deployed). The load:

- ``--sim-vehicles`` buses through the fleet simulator at speed-up 1 (runs created,
  map-matched, predicted, completed: every code path of a real bus, at the cost of a
  Python process per 20 buses);
- the rest of the 2,000 from the paced publisher of ``benchmarks.chaos.load`` (one
  paho loop in its own process; a QoS 1 position per vehicle per second), which is the
  cheap part: ingest, hot state and history without runs;
- the web process serves both feeds every 2 s (protobuf) and ``--clients`` WebSocket
  clients subscribed to ``all`` (the client processes of ``benchmarks.live``).

Every ``--interval`` seconds it samples the RSS of the worker process tree and of the
web process tree (``/proc``) and Redis ``used_memory``, and prints a row. The verdict:
least-squares slope over the last two thirds of the samples (the first third is
warm-up: imports, caches, allocator arenas) projected over 24 h must stay below half of
that span's mean (``FLAT_GROWTH_PER_DAY``); see docs/reliability.md for why.
"""

from __future__ import annotations

import argparse
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from benchmarks.chaos.faults import BEAT, WORKER
from benchmarks.chaos.stack import Stack, StackOptions, machine, new_topic_root
from benchmarks.live import client_process, dispatcher_token
from tests.support.processes import free_port, port_answers, wait_for

# Flat: the fitted growth over a day stays below this share of the mean. A leak of one
# byte per message at 2,000 msg/s is ~170 MB a day, above half of any process here.
FLAT_GROWTH_PER_DAY = 0.5
# ...or below this slope, the smallest 20 minutes of 30 s samples tell from the churn
# of allocator arenas and feed payloads (±0.3 MB between samples here).
FLAT_FLOOR_MB_PER_H = 1.0
FEED_PATHS = ("/gtfs-rt/vehicle-positions.pb", "/gtfs-rt/trip-updates.pb")
FEED_POLL_S = 2.0
PREFIX = "SOAK-"


@dataclass(frozen=True, slots=True)
class Sample:
    elapsed_s: float
    worker_mb: float
    web_mb: float
    redis_mb: float
    feed_requests: int
    feed_errors: int
    history_per_s: float  # position history rows written per second since the last sample
    newest_fix_age_s: float | None  # now - the hot-state timestamp of the first paced vehicle


def tree_rss_mb(pid: int) -> float:
    """Resident memory of a process and all its descendants, MB (0 if it is gone)."""
    total_kb, pending = 0, [pid]
    while pending:
        current = pending.pop()
        try:
            status = Path(f"/proc/{current}/status").read_text()
        except OSError:
            continue
        for line in status.splitlines():
            if line.startswith("VmRSS:"):
                total_kb += int(line.split()[1])
        for task in Path(f"/proc/{current}/task").glob("*/children"):
            try:
                pending += [int(child) for child in task.read_text().split()]
            except OSError:
                continue
    return total_kb / 1024


def slope_per_day(points: list[tuple[float, float]]) -> float:
    """Least-squares slope of (seconds, value) points, in value per day."""
    n = len(points)
    if n < 2:
        return 0.0
    mean_x = sum(x for x, _ in points) / n
    mean_y = sum(y for _, y in points) / n
    spread = sum((x - mean_x) ** 2 for x, _ in points)
    if not spread:
        return 0.0
    slope = sum((x - mean_x) * (y - mean_y) for x, y in points) / spread
    return slope * 86_400


@dataclass(frozen=True, slots=True)
class Trend:
    name: str
    mean: float
    per_day: float

    @property
    def flat(self) -> bool:
        return self.per_day < max(FLAT_GROWTH_PER_DAY * self.mean, FLAT_FLOOR_MB_PER_H * 24)

    def describe(self) -> str:
        per_hour = self.per_day / 24
        verdict = "flat" if self.flat else "GROWING"
        return (
            f"{self.name}: mean {self.mean:.1f} MB, slope {per_hour:+.2f} MB/h "
            f"({self.per_day / self.mean:+.0%} of the mean per day) → {verdict}"
        )


def trends(samples: list[Sample]) -> list[Trend]:
    """The fitted trend of each series over the last two thirds of the samples."""
    tail = samples[len(samples) // 3 :]
    found = []
    for name in ("worker_mb", "web_mb", "redis_mb"):
        points = [(s.elapsed_s, getattr(s, name)) for s in tail]
        mean = sum(y for _, y in points) / max(1, len(points))
        found.append(Trend(name.removesuffix("_mb"), mean, slope_per_day(points)))
    return found


class FeedPoller(threading.Thread):
    """Fetches both feeds from the web process every FEED_POLL_S, counting failures."""

    def __init__(self, base_url: str) -> None:
        super().__init__(daemon=True)
        self.base_url = base_url
        self.requests = self.errors = 0
        self.stopping = threading.Event()

    def run(self) -> None:
        while not self.stopping.wait(FEED_POLL_S):
            for path in FEED_PATHS:
                self.requests += 1
                try:
                    with urllib.request.urlopen(self.base_url + path, timeout=10) as response:
                        response.read()
                except OSError:
                    self.errors += 1


def start_clients(url: str, token: str, count: int, workdir: Path) -> subprocess.Popen:
    """``benchmarks.live``'s client process: ``count`` WebSocket clients on ``all``."""
    command = [
        sys.executable,
        "-m",
        "benchmarks.live",
        "clients",
        "--url",
        url,
        "--count",
        str(count),
        "--out",
        str(workdir / "clients.json"),
    ]
    process = client_process(command, token)
    line = process.stdout.readline().strip()
    if line != "ready":
        raise RuntimeError(f"WebSocket clients did not connect: {line!r}")
    return process


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.soak", description=__doc__)
    parser.add_argument("--duration", type=float, default=1800.0, help="seconds of load")
    parser.add_argument("--vehicles", type=int, default=2000, help="vehicles in all, at 1 Hz")
    parser.add_argument("--sim-vehicles", type=int, default=20, help="of which simulated")
    parser.add_argument("--interval", type=float, default=30.0, help="seconds between samples")
    parser.add_argument("--clients", type=int, default=5, help="WebSocket clients on 'all'")
    parser.add_argument("--workdir", type=Path, help="keep services and logs here")
    return parser.parse_args(argv)


def history_rows_inserted() -> int:
    """Rows ever inserted into position history (COPY included), from PostgreSQL's statistics:
    the sum over its day partitions (a partitioned table counts none itself)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT coalesce(sum(n_tup_ins), 0) FROM pg_stat_user_tables WHERE relid IN "
            "(SELECT relid FROM pg_partition_tree(%s::regclass))",
            ["realtime_engine_positionrecord"],
        )
        row = cursor.fetchone()
    return int(row[0])


def newest_fix_age_s(client, vehicle_id: str) -> float | None:
    from databus import keys
    from runs.domain.telemetry import position

    ts = client.hget(keys.vehicle_position(vehicle_id), position.TIMESTAMP)
    return time.time() - int(ts) if ts else None


def format_sample(sample: Sample) -> str:
    age = "—" if sample.newest_fix_age_s is None else f"{sample.newest_fix_age_s:.1f}"
    return (
        f"| {sample.elapsed_s / 60:5.1f} | {sample.worker_mb:7.1f} | {sample.web_mb:7.1f} "
        f"| {sample.redis_mb:6.1f} | {sample.history_per_s:,.0f} | {age} "
        f"| {sample.feed_requests:,} ({sample.feed_errors} failed) |"
    )


def main(argv: list[str]) -> int:
    import redis

    args = parse_args(argv)
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="databus-soak-"))
    stack = Stack(
        workdir,
        StackOptions(
            simulated_vehicles=args.sim_vehicles,
            speedup=1.0,
            feed_build_interval_s=15,
            topic_root=new_topic_root(),
        ),
    )
    paced = args.vehicles - args.sim_vehicles
    print(f"soak: {machine()}; work folder {workdir}", flush=True)
    print(
        f"soak: {args.vehicles:,} vehicles at 1 Hz for {args.duration / 60:.0f} min: "
        f"{args.sim_vehicles} simulated (speed-up 1), {paced:,} from the paced publisher; "
        f"{args.clients} WebSocket clients, both feeds fetched every {FEED_POLL_S:g} s",
        flush=True,
    )
    samples: list[Sample] = []
    clients = None
    poller = None
    try:
        stack.start_services()
        stack.point_django_here()
        import django

        django.setup()
        stack.prepare_database()
        stack.register_load_vehicles(PREFIX, paced)
        worker = stack.start_worker(WORKER)
        stack.wait_subscribed(WORKER)
        stack.start_beat(BEAT)
        web_port = free_port()
        web = stack.start_web(web_port)
        wait_for(lambda: port_answers(web_port), 60, "uvicorn")
        stack.start_simulator()
        stack.start_load(PREFIX, paced, None)
        clients = start_clients(
            f"ws://127.0.0.1:{web_port}/ws/live/", dispatcher_token("soak"), args.clients, workdir
        )
        poller = FeedPoller(f"http://127.0.0.1:{web_port}")
        poller.start()
        client = redis.Redis(port=stack.redis_port, decode_responses=True)
        print(
            "| min | worker MB | web MB | Redis MB | history rows/s | newest fix age s "
            "| feed requests |",
            flush=True,
        )
        print("|---|---|---|---|---|---|---|", flush=True)
        started = time.monotonic()
        rows_before, rows_at = history_rows_inserted(), started
        first_paced = f"{PREFIX}0000"
        while True:
            elapsed = time.monotonic() - started
            rows, now = history_rows_inserted(), time.monotonic()
            rate = (rows - rows_before) / max(1e-9, now - rows_at)
            rows_before, rows_at = rows, now
            sample = Sample(
                elapsed,
                tree_rss_mb(worker.process.pid),
                tree_rss_mb(web.process.pid),
                client.info("memory")["used_memory"] / 2**20,
                poller.requests,
                poller.errors,
                rate,
                newest_fix_age_s(client, first_paced),
            )
            samples.append(sample)
            print(format_sample(sample), flush=True)
            for name, handle in (("worker", worker), ("web", web)):
                if handle.process.poll() is not None:
                    raise RuntimeError(f"the {name} process exited {handle.process.returncode}")
            if elapsed >= args.duration:
                break
            time.sleep(max(0.0, started + len(samples) * args.interval - time.monotonic()))
    finally:
        if poller is not None:
            poller.stopping.set()
        if clients is not None:
            clients.send_signal(signal.SIGTERM)
            try:
                clients.wait(30)
            except subprocess.TimeoutExpired:
                clients.kill()
        stack.close()
    load_out = (workdir / "logs" / "load.log").read_text().strip().splitlines()[-1:]
    print(f"soak: {' '.join(load_out)}", flush=True)
    results = trends(samples)
    for trend in results:
        print("soak: " + trend.describe(), flush=True)
    flat = all(trend.flat for trend in results)
    print(f"soak: {'memory flat' if flat else 'memory GROWS'}", flush=True)
    return 0 if flat else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
