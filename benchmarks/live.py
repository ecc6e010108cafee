"""`make bench-live`: 500 WebSocket clients on ``all`` while 1,000 positions/s flow through ingest.

Starts a private Mosquitto, a scratch database (``<name>_bench_live``, dropped at the
end), one ``uvicorn backend.asgi:application`` process and the real MQTT consumer
(in this process) with the live fan-out observer as its only batch observer (no
runs exist, so detector dispatch and map-matching would have nothing to do).
Client processes (``python -m benchmarks.live clients …``) open the WebSocket
connections, token-authenticated, each subscribed to ``all``.

- *ingest capacity*: a 60,000-message backlog (1,000 vehicles) drained by the
  consumer, without clients and with the 500 clients connected (interleaved);
- *paced*: 1,000 positions/s for 20 s, without clients and then with them. The
  publisher of ``benchmarks.ingest`` puts its send time in ``odometer``; the consumer
  takes ``hot state written - odometer`` for every position (publish → hot state:
  whether the clients slow ingest), and each client ``receive time - odometer`` for
  every tenth vehicle (in every tenth client, the others only count frames):
  publish → client latency, overall and in the worst second of the run.
  Clients closed by the server (or failing) are counted as dropped.

``--pin`` puts the consumer (this process) on CPU 0 and the web process and the
clients on CPU 1 (Mosquitto, Redis and PostgreSQL float): on a real deployment the
workers do not share cores with web processes and clients, and pinning tells what
the fan-out costs ingest from what the clients' CPU does.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import msgspec

from benchmarks.ingest import (
    machine,
    register_fleet,
    run_publisher,
    start_consumer,
    start_publisher,
    stop_consumer,
)

ROOT = Path(__file__).resolve().parent.parent
CLIENTS = 500
CLIENT_PROCESSES = 2
BACKLOG = 60_000
PACED_RATE = 1_000
PACED_SECONDS = 20
PACED_PREFIX = "paced-"
CLIENT_TOKEN_ENV = "LIVE_CLIENT_TOKEN"
# Every tenth client decodes each message and takes latencies; the others receive
# every frame and count it (this box runs the clients too: their JSON parsing would
# otherwise eat the cores the server is being measured on).
MEASURE_EVERY = 10

# ----- client processes ------------------------------------------------------------------------


class _Vehicle(msgspec.Struct):
    vehicle_id: str
    odometer: float | None = None


class _Message(msgspec.Struct):
    type: str
    vehicles: list[_Vehicle] = []
    sent_at: float | None = None


async def _client(
    url: str, stats: dict, ready: asyncio.Queue, stop: asyncio.Event, measuring: bool
) -> None:
    from websockets.asyncio.client import connect
    from websockets.exceptions import ConnectionClosed

    decoder = msgspec.json.Decoder(_Message)
    try:
        # The header, not the URL: the live endpoint takes no token in the query string.
        headers = {"Authorization": f"Token {os.environ[CLIENT_TOKEN_ENV]}"}
        async with connect(
            url, additional_headers=headers, max_size=None, open_timeout=60, ping_interval=None
        ) as ws:
            await ws.send(json.dumps({"type": "subscribe", "topic": "all"}))
            while decoder.decode(await ws.recv()).type != "snapshot":
                pass
            ready.put_nowait(1)
            receiving = asyncio.ensure_future(ws.recv(decode=measuring))
            stopping = asyncio.ensure_future(stop.wait())
            while True:
                done, _ = await asyncio.wait(
                    {receiving, stopping}, return_when=asyncio.FIRST_COMPLETED
                )
                if stopping in done:
                    receiving.cancel()
                    return
                now = time.time()
                stats["messages"] += 1
                if not measuring:  # receives every byte, like any client, and only counts
                    receiving = asyncio.ensure_future(ws.recv(decode=False))
                    continue
                message = decoder.decode(receiving.result())
                if message.type == "position":
                    stats["delivery"].append((now, now - message.sent_at))
                    for vehicle in message.vehicles:
                        if (
                            vehicle.odometer
                            and vehicle.vehicle_id.startswith(PACED_PREFIX)
                            and (vehicle.vehicle_id.endswith("0"))
                        ):
                            stats["latencies"].append((now, now - vehicle.odometer))
                receiving = asyncio.ensure_future(ws.recv(decode=measuring))
    except ConnectionClosed as closed:
        stats["dropped"].append(closed.rcvd.code if closed.rcvd else None)
    except Exception as error:
        stats["dropped"].append(repr(error))


async def _clients_main(url: str, count: int, out: str) -> None:
    stats = {"messages": 0, "latencies": [], "delivery": [], "dropped": []}
    ready: asyncio.Queue = asyncio.Queue()
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    tasks = [
        asyncio.create_task(_client(url, stats, ready, stop, index % MEASURE_EVERY == 0))
        for index in range(count)
    ]
    for _ in range(count):
        await ready.get()
    print("ready", flush=True)
    await asyncio.gather(*tasks)
    Path(out).write_text(json.dumps(stats))


def dispatcher_token(prefix: str) -> str:
    """A knox token of a new ``dispatcher`` user: watching ``all`` needs that role."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group
    from knox.models import AuthToken

    from runs.services.actors import DISPATCHER_GROUP

    user = get_user_model().objects.create_user(f"{prefix}-{uuid.uuid4().hex[:6]}")
    user.groups.add(Group.objects.get_or_create(name=DISPATCHER_GROUP)[0])
    return AuthToken.objects.create(user=user)[1]


def clients_main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--count", type=int, required=True)
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    asyncio.run(_clients_main(args.url, args.count, args.out))


# ----- orchestration ---------------------------------------------------------------------------


class IngestProbe:
    """A batch observer that counts ingested messages and notes when the target is reached."""

    def __init__(self) -> None:
        self.reset(0)

    def reset(self, target: int) -> None:
        self.target, self.count, self.first, self.last = target, 0, 0.0, 0.0
        self.to_hot_state: list[float] = []  # publish → hot state written, seconds
        self.finished = threading.Event()

    def observe(self, batch, redis_client) -> None:
        now = time.monotonic()
        written = time.time()
        self.first = self.first or now
        self.count += batch.message_count
        self.last = now
        self.to_hot_state += [written - p.odometer for p in batch.positions.values()]
        if self.count >= self.target:
            self.finished.set()


def start_web(env: dict[str, str], port: int, log: Path) -> subprocess.Popen:
    from tests.support.processes import uvicorn_command

    return subprocess.Popen(
        uvicorn_command(port, graceful_shutdown_s=2),
        cwd=ROOT,
        env=env,
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
    )


def client_process(command: list[str], token: str) -> subprocess.Popen:
    """A client process of ``clients_main``, given its token in the environment (not argv)."""
    env = {**os.environ, CLIENT_TOKEN_ENV: token}
    return subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True)


def start_clients(
    url: str, token: str, workdir: Path, cpus: set[int] | None
) -> list[tuple[subprocess.Popen, Path]]:
    started = []
    per_process = CLIENTS // CLIENT_PROCESSES
    for index in range(CLIENT_PROCESSES):
        out = workdir / f"clients-{index}.json"
        command = [
            sys.executable,
            "-m",
            "benchmarks.live",
            "clients",
            "--url",
            url,
            "--count",
            str(per_process),
            "--out",
            str(out),
        ]
        process = client_process(command, token)
        if cpus:
            os.sched_setaffinity(process.pid, cpus)
        started.append((process, out))
    for process, _ in started:
        line = process.stdout.readline().strip()
        if line != "ready":
            raise RuntimeError(f"clients did not connect: {line!r}")
    return started


def stop_clients(started) -> dict:
    total = {"messages": 0, "latencies": [], "delivery": [], "dropped": []}
    for process, _ in started:
        process.send_signal(signal.SIGTERM)
    for process, out in started:
        process.wait(60)
        stats = json.loads(out.read_text())
        for name in total:
            total[name] += stats[name]
    return total


def measure_drain(port: int, root: str, prefix: str, probe: IngestProbe) -> float:
    from realtime_engine.ws.fanout import observe_batch

    client_id = f"bench-live-{uuid.uuid4().hex[:6]}"
    consumer, thread = start_consumer(port, root, client_id, (observe_batch, probe.observe))
    stop_consumer(consumer, thread)
    run_publisher(port, root, prefix, BACKLOG)
    probe.reset(BACKLOG)
    consumer, thread = start_consumer(port, root, client_id, (observe_batch, probe.observe))
    finished = probe.finished.wait(180)
    stop_consumer(consumer, thread)
    return BACKLOG / (probe.last - probe.first) if finished else 0.0


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))] if ordered else float("nan")


Samples = list[tuple[float, float]]  # (wall time, value)


def within(samples: Samples, window: tuple[float, float]) -> Samples:
    """The ``(wall time, value)`` samples taken inside ``window``."""
    return [(at, value) for at, value in samples if window[0] <= at <= window[1]]


def worst_second(samples: Samples, q: float) -> tuple[float, int]:
    """The highest per-second ``q`` percentile of ``(wall time, value)`` samples, and
    that second's offset from the first sample (a periodic stall shows here)."""
    if not samples:
        return float("nan"), 0
    start = min(at for at, _ in samples)
    by_second: dict[int, list[float]] = {}
    for at, value in samples:
        by_second.setdefault(int(at - start), []).append(value)
    second = max(by_second, key=lambda s: percentile(by_second[s], q))
    return percentile(by_second[second], q), second


def main(argv: list[str]) -> None:
    global CLIENTS, BACKLOG, PACED_SECONDS
    parser = argparse.ArgumentParser(description="live updates benchmark")
    parser.add_argument("--clients", type=int, default=CLIENTS)
    parser.add_argument("--backlog", type=int, default=BACKLOG)
    parser.add_argument("--seconds", type=int, default=PACED_SECONDS)
    parser.add_argument(
        "--pin", action="store_true", help="consumer on CPU 0; web process and clients on CPU 1"
    )
    args = parser.parse_args(argv)
    CLIENTS, BACKLOG, PACED_SECONDS = args.clients, args.backlog, args.seconds
    from benchmarks.scratch_redis import scratch_redis

    with scratch_redis():
        measure_all(pin=args.pin)


def measure_all(*, pin: bool) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "backend.settings")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    import django

    django.setup()
    from django.conf import settings

    from benchmarks.scratch_db import database_url, drop_database, scratch_database
    from tests.support.processes import free_port, port_answers, start_mosquitto, wait_for

    print(f"live benchmark: {CLIENTS} WebSocket clients on 'all'; {machine()}")
    print(
        f"publish tick {settings.LIVE_PUBLISH_INTERVAL_MS} ms, "
        f"per-client queue {settings.LIVE_WS_QUEUE_MAX}"
    )
    database = scratch_database("live")
    register_fleet(["warm-", "p0-", PACED_PREFIX, "b-", "a-"])  # the prefixes measured below
    workdir = Path(tempfile.mkdtemp(prefix="bench-live-"))
    broker, mqtt_port = start_mosquitto(workdir / "mosquitto")
    root = f"bench-{uuid.uuid4().hex[:8]}"
    token = dispatcher_token("bench")
    web_port = free_port()
    env = {**os.environ, "DATABASE_URL": database_url(), "LOG_LEVEL": "WARNING"}
    web = start_web(env, web_port, workdir / "web.log")
    web_cpus = {1} if pin else None
    if web_cpus:
        os.sched_setaffinity(0, {0})
        os.sched_setaffinity(web.pid, web_cpus)
        print("pinned: consumer on CPU 0, web process and clients on CPU 1")
    wait_for(lambda: port_answers(web_port), 30, "uvicorn")
    url = f"ws://127.0.0.1:{web_port}/ws/live/"
    probe = IngestProbe()
    results: dict[str, dict] = {}
    clients = []
    try:
        measure_paced(mqtt_port, root, "warm-", probe, seconds=3)  # imports, connections
        results["paced without clients"] = measure_paced(mqtt_port, root, "p0-", probe)
        clients = start_clients(url, token, workdir, web_cpus)
        results["paced with clients"] = measure_paced(mqtt_port, root, PACED_PREFIX, probe)
        drain_with = measure_drain(mqtt_port, root, "b-", probe)
        totals = stop_clients(clients)
        clients = []
        drain_without = measure_drain(mqtt_port, root, "a-", probe)
    finally:
        for process, _ in clients:
            process.kill()
        web.terminate()
        web.wait(30)
        broker.stop()
        drop_database(database)
    without, with_ = results["paced without clients"], results["paced with clients"]
    print(f"  paced {PACED_RATE:,} positions/s for {PACED_SECONDS} s, ingest consumer:")
    for name, row in results.items():
        print(
            f"    {name:>22}: {row['rate']:,.0f} msg/s written, "
            f"publish → hot state p50 {row['hot_p50_ms']:.1f} ms, p99 {row['hot_p99_ms']:.1f} ms, "
            f"{row['cpu_ms_per_1k']:.0f} ms CPU per 1,000 messages (consumer + fan-out)"
        )
    print(
        f"    ingest rate with clients / without: {with_['rate'] / without['rate']:.1%}; "
        f"CPU per message: {with_['cpu_ms_per_1k'] / without['cpu_ms_per_1k']:.1%}"
    )
    paced_window = with_["window"]
    latency_samples = within(totals["latencies"], paced_window)
    latencies = [value for _, value in latency_samples]
    worst, worst_at = worst_second(latency_samples, 0.99)
    print(
        f"  publish → client ({len(latencies):,} samples: every tenth vehicle, every tenth "
        "client): "
        f"p50 {percentile(latencies, 0.5) * 1000:.0f} ms, "
        f"p99 {percentile(latencies, 0.99) * 1000:.0f} ms, "
        f"max {max(latencies, default=float('nan')) * 1000:.0f} ms; "
        f"worst second's p99 {worst * 1000:.0f} ms (at {worst_at} s)"
    )
    delivery = [value for _, value in within(totals["delivery"], paced_window)]
    print(
        f"  of which fan-out send → client: p50 {percentile(delivery, 0.5) * 1000:.0f} ms, "
        f"p99 {percentile(delivery, 0.99) * 1000:.0f} ms; "
        f"{totals['messages']:,} messages received in all"
    )
    print(f"  clients dropped: {len(totals['dropped'])} {totals['dropped'][:5]}")
    print(
        f"  backlog drain ({BACKLOG:,} messages), 2 cores shared with the web process: "
        f"with clients {drain_with:,.0f} msg/s, without {drain_without:,.0f} msg/s "
        f"({drain_with / drain_without:.0%})"
    )


def measure_paced(
    port: int, root: str, prefix: str, probe: IngestProbe, seconds: int | None = None
) -> dict:
    from realtime_engine.ws.fanout import observe_batch

    seconds = seconds or PACED_SECONDS
    count = PACED_RATE * seconds
    probe.reset(count)
    consumer, thread = start_consumer(
        port, root, f"bench-paced-{uuid.uuid4().hex[:6]}", (observe_batch, probe.observe)
    )
    cpu_before = time.process_time()
    started = time.time()
    publisher = start_publisher(port, root, prefix, count, rate=PACED_RATE)
    publisher.wait(seconds + 60)
    if not probe.finished.wait(30):
        print(f"  paced: the consumer ingested {probe.count} of {count}")
    time.sleep(1)  # the last tick reaches the clients
    cpu = time.process_time() - cpu_before
    window = (started, time.time())
    stop_consumer(consumer, thread)
    return {
        "rate": probe.count / max(1e-9, probe.last - probe.first),
        "cpu_ms_per_1k": cpu * 1000 / max(1, probe.count) * 1000,
        "hot_p50_ms": percentile(probe.to_hot_state, 0.5) * 1000,
        "hot_p99_ms": percentile(probe.to_hot_state, 0.99) * 1000,
        "window": window,
    }


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "clients":
        clients_main(sys.argv[2:])
    else:
        main(sys.argv[1:])
