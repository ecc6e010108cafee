"""`make bench-ingest`: the MQTT telemetry consumer against a counting-only subscriber.

Starts a private Mosquitto with the project's configuration and a scratch
database (``<name>_bench_ingest``, dropped at the end). A publisher in a separate
process (``python -m benchmarks.ingest publish …``) sends 200,000 position messages
for 1,000 vehicles at QoS 1 as fast as the broker takes them, once per
measurement:

- *backlog* (default): the publisher fills the subscriber's persistent session
  first, then the subscriber drains it: the subscriber's own capacity, without a
  Python publisher eating the second core;
- *live* (``--live``): the subscriber is connected while the publisher runs, all
  competing for the two cores with the broker (mostly measures the publisher).

Each is measured for the counting-only paho subscriber (the ceiling) and the real
consumer (decode, validation, hot state, history, acks). Then a paced 2,000 msg/s
for 15 s gives the publish → hot-state latency (the publisher puts its send time
in ``odometer``; a batch observer reads it back when the batch's hot state is
written). Lost messages are counted from the history table.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import msgspec

TOTAL = 200_000
VEHICLES = 1_000
PACED_RATE = 2_000
PACED_SECONDS = 15
PACED_PREFIX = "paced-"
# paho numbers QoS 1 messages with 16-bit ids: keep fewer than that unacknowledged.
PUBLISH_WINDOW = 20_000
DRAIN_TIMEOUT_S = 180


# ----- publisher (child process) ---------------------------------------------------------------


class _BenchPosition(msgspec.Struct):
    latitude: float
    longitude: float
    speed: float
    bearing: float
    odometer: float
    timestamp: int


def publish_main(argv: list[str]) -> None:
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--root", required=True)
    parser.add_argument("--prefix", required=True)
    parser.add_argument("--count", type=int, required=True)
    parser.add_argument("--rate", type=float, default=0)
    args = parser.parse_args(argv)

    acked = 0
    done = threading.Condition()

    def on_publish(client, userdata, mid, reason_code, properties) -> None:
        nonlocal acked
        with done:
            acked += 1
            done.notify_all()

    client = mqtt.Client(
        CallbackAPIVersion.VERSION2, client_id=f"bench-pub-{uuid.uuid4().hex}", protocol=mqtt.MQTTv5
    )
    client.max_inflight_messages_set(1000)
    client.on_publish = on_publish
    client.connect("127.0.0.1", args.port)
    client.loop_start()
    encoder = msgspec.json.Encoder()
    topics = [f"{args.root}/vehicle/{args.prefix}{v}/position" for v in range(VEHICLES)]
    base = int(time.time()) - args.count // VEHICLES - 120
    started = time.monotonic()
    for i in range(args.count):
        if args.rate:
            delay = started + i / args.rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)
        elif i - acked > PUBLISH_WINDOW:
            with done:
                done.wait_for(lambda i=i: i - acked <= PUBLISH_WINDOW // 2)
        payload = encoder.encode(
            _BenchPosition(
                latitude=38.9 + (i % 97) * 1e-4,
                longitude=-77.0,
                speed=5.0,
                bearing=90.0,
                odometer=time.time(),
                timestamp=base + i // VEHICLES,
            )
        )
        client.publish(topics[i % VEHICLES], payload, qos=1)
    with done:
        done.wait_for(lambda: acked >= args.count, timeout=DRAIN_TIMEOUT_S)
    client.disconnect()
    client.loop_stop()


def start_publisher(
    port: int, root: str, prefix: str, count: int, rate: float = 0
) -> subprocess.Popen:
    command = [
        sys.executable,
        "-m",
        "benchmarks.ingest",
        "publish",
        "--port",
        str(port),
        "--root",
        root,
        "--prefix",
        prefix,
        "--count",
        str(count),
        "--rate",
        str(rate),
    ]
    return subprocess.Popen(command, cwd=Path(__file__).resolve().parent.parent)


# ----- counting-only subscriber (the ceiling) ---------------------------------------------------


class CountingSubscriber:
    """paho at QoS 1 with automatic acks, doing nothing but count."""

    def __init__(self, port: int, root: str, client_id: str) -> None:
        import paho.mqtt.client as mqtt
        from paho.mqtt.enums import CallbackAPIVersion
        from paho.mqtt.packettypes import PacketTypes
        from paho.mqtt.properties import Properties

        self.port, self.root = port, root
        self.count = 0
        self.first = self.last = 0.0
        self.target = 0
        self.finished = threading.Event()
        self.subscribed = threading.Event()
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5
        )
        self.properties = Properties(PacketTypes.CONNECT)
        self.properties.SessionExpiryInterval = 600
        self.client.on_connect = lambda c, u, f, rc, p: c.subscribe(f"{root}/vehicle/+/+", qos=1)
        self.client.on_subscribe = lambda *a: self.subscribed.set()
        self.client.on_message = self._on_message

    def _on_message(self, client, userdata, message) -> None:
        now = time.perf_counter()
        if not self.count:
            self.first = now
        self.count += 1
        if self.count >= self.target:
            self.last = now
            self.finished.set()

    def connect(self, target: int) -> None:
        self.target, self.count = target, 0
        self.finished.clear()
        self.subscribed.clear()
        self.client.connect("127.0.0.1", self.port, clean_start=False, properties=self.properties)
        self.client.loop_start()
        self.subscribed.wait(10)

    def disconnect(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


# ----- the real consumer ------------------------------------------------------------------------


@dataclass
class ConsumerProbe:
    """Observer + history hook: counts written rows and publish → hot-state latencies."""

    target: int = 0
    rows: int = 0
    first: float = 0.0
    last: float = 0.0
    latencies: list[float] | None = None

    def __post_init__(self) -> None:
        self.finished = threading.Event()
        self.lock = threading.Lock()

    def reset(self, target: int, latencies: bool = False) -> None:
        self.target, self.rows, self.first, self.last = target, 0, 0.0, 0.0
        self.latencies = [] if latencies else None
        self.finished.clear()

    def observe(self, batch, redis_client) -> None:
        if self.latencies is not None:
            now = time.time()
            self.latencies += [now - p.odometer for p in batch.positions.values()]

    def written(self, count: int, received_first: float) -> None:
        now = time.perf_counter()
        if not self.first:
            self.first = received_first
        self.rows += count
        if self.rows >= self.target:
            self.last = now
            self.finished.set()


def make_history_writer(probe: ConsumerProbe):
    from realtime_engine.ingest.history import DatabaseTarget, HistoryWriter

    class ProbedHistoryWriter(HistoryWriter):
        def write(self, positions) -> None:
            super().write(positions)
            if positions:
                # perf_counter of the earliest receive, from its wall-clock received_at.
                earliest = min(p.received_at for p in positions)
                probe.written(len(positions), time.perf_counter() - (time.time() - earliest))

    return ProbedHistoryWriter(DatabaseTarget.from_django())


# ----- orchestration ----------------------------------------------------------------------------


def history_count(prefix: str) -> int:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM realtime_engine_positionrecord WHERE vehicle_id LIKE %s",
            [f"{prefix}%"],
        )
        return cursor.fetchone()[0]


def consumer_prefix(mode: str) -> str:
    """The vehicle ids the real consumer is measured with in ``mode``."""
    return f"r{mode}-"


def fleet_ids(prefix: str) -> list[str]:
    """The ids of the ``VEHICLES`` vehicles a publisher names with ``prefix``."""
    return [f"{prefix}{v}" for v in range(VEHICLES)]


def register_fleet(prefixes: Iterable[str], *, trackers: bool = False) -> dict[str, str]:
    """Register the vehicles the publisher names with ``prefixes``, as an agency registers
    its fleet: ingest trusts no other. The consumer's registry is loaded once per refresh,
    so the measured rate includes the check. With ``trackers`` each gets the tracker IMEI
    the fleet service derives from its id (the Streams ingress maps records by it);
    returns vehicle id → IMEI then."""
    from django.core.management import call_command

    from runs.models import Vehicle
    from runs.services.fleet import derived_tracker_imei
    from tests.support.vehicles import register_vehicles

    call_command("migrate", "runs", verbosity=0)  # the vehicles table, at its latest
    ids = [vehicle_id for prefix in prefixes for vehicle_id in fleet_ids(prefix)]
    register_vehicles(ids)
    if not trackers:
        return {}
    imeis = {vehicle_id: derived_tracker_imei(vehicle_id) for vehicle_id in ids}
    Vehicle.objects.bulk_update(
        [Vehicle(id=vehicle_id, tracker_imei=imei) for vehicle_id, imei in imeis.items()],
        ["tracker_imei"],
        batch_size=1000,
    )
    return imeis


def run_publisher(port: int, root: str, prefix: str, count: int, rate: float = 0) -> None:
    publisher = start_publisher(port, root, prefix, count, rate)
    if publisher.wait(DRAIN_TIMEOUT_S) != 0:
        raise RuntimeError("publisher failed")


def measure_ceiling(port: int, root: str, mode: str) -> float:
    subscriber = CountingSubscriber(port, root, f"bench-count-{mode}-{uuid.uuid4().hex[:6]}")
    subscriber.connect(TOTAL)
    if mode == "backlog":
        subscriber.disconnect()
        run_publisher(port, root, f"c{mode}-", TOTAL)
        subscriber.connect(TOTAL)
    else:
        start_publisher(port, root, f"c{mode}-", TOTAL)
    if not subscriber.finished.wait(DRAIN_TIMEOUT_S):
        raise RuntimeError(f"counting subscriber got {subscriber.count} of {TOTAL}")
    subscriber.disconnect()
    return TOTAL / (subscriber.last - subscriber.first)


def start_consumer(port: int, root: str, client_id: str, observers, history=None):
    """The real consumer on its own thread, subscribed; ``history`` defaults to PostgreSQL."""
    from realtime_engine.ingest.service import build_consumer

    consumer = build_consumer(
        client_id=client_id,
        observers=observers,
        history=history,
        host="127.0.0.1",
        port=port,
        topic_root=root,
        shared_group="",
        session_expiry_s=600,
    )
    thread = threading.Thread(target=consumer.run, daemon=True)
    thread.start()
    # Resuming a session with a backlog, the SUBACK comes after the queued messages the
    # broker sends first: ``ready`` may wait for most of the drain (timed by the probe).
    if not consumer.ready.wait(DRAIN_TIMEOUT_S):
        raise RuntimeError("consumer did not subscribe")
    return consumer, thread


def start_probed_consumer(port: int, root: str, client_id: str, probe: ConsumerProbe):
    return start_consumer(port, root, client_id, (probe.observe,), make_history_writer(probe))


def stop_consumer(consumer, thread) -> None:
    consumer.request_stop()
    thread.join(30)


def measure_consumer(port: int, root: str, mode: str, probe: ConsumerProbe) -> tuple[float, int]:
    prefix = consumer_prefix(mode)
    client_id = f"bench-ingest-{mode}-{uuid.uuid4().hex[:6]}"
    probe.reset(TOTAL)
    consumer, thread = start_probed_consumer(port, root, client_id, probe)
    if mode == "backlog":
        stop_consumer(consumer, thread)
        run_publisher(port, root, prefix, TOTAL)
        probe.reset(TOTAL)
        consumer, thread = start_probed_consumer(port, root, client_id, probe)
    else:
        start_publisher(port, root, prefix, TOTAL)
    finished = probe.finished.wait(DRAIN_TIMEOUT_S)
    stop_consumer(consumer, thread)
    lost = TOTAL - history_count(prefix)
    if not finished:
        print(f"  consumer wrote {probe.rows} of {TOTAL} before the timeout")
    return TOTAL / (probe.last - probe.first) if finished else 0.0, lost


def measure_latency(port: int, root: str, probe: ConsumerProbe) -> tuple[float, float, int]:
    count = PACED_RATE * PACED_SECONDS
    probe.reset(count, latencies=True)
    consumer, thread = start_probed_consumer(
        port, root, f"bench-paced-{uuid.uuid4().hex[:6]}", probe
    )
    run_publisher(port, root, PACED_PREFIX, count, rate=PACED_RATE)
    probe.finished.wait(30)
    stop_consumer(consumer, thread)
    samples = sorted(probe.latencies or [0.0])
    p99 = samples[min(len(samples) - 1, int(len(samples) * 0.99))]
    return statistics.median(samples) * 1000, p99 * 1000, count - history_count(PACED_PREFIX)


def comparison_line(
    label: str,
    baseline_name: str,
    baseline: float,
    rate: float,
    lost: int,
    seconds: float,
    unit: str = "msg/s",
) -> str:
    """One measurement: the baseline's and the real consumer's rates, their ratio, the loss."""
    return (
        f"{label:>8}: {baseline_name} {baseline:8,.0f} {unit} | consumer "
        f"{rate:8,.0f} {unit} | ratio {rate / baseline:4.0%} | lost {lost} ({seconds:.0f} s)"
    )


def django_setup() -> None:
    """Django for a benchmark process, quiet (enter ``scratch_redis`` first)."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "backend.settings")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    import django

    django.setup()


def machine() -> str:
    model = "unknown CPU"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    return f"{os.cpu_count()} cores, {model}"


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.ingest")
    parser.add_argument(
        "--live",
        action="store_true",
        help="also measure with the publisher running concurrently (adds about a minute)",
    )
    modes = ("live", "backlog") if parser.parse_args(argv).live else ("backlog",)
    from benchmarks.scratch_redis import scratch_redis

    with scratch_redis():
        measure_all(modes)


def measure_all(modes: tuple[str, ...]) -> None:
    django_setup()
    from django.conf import settings

    from benchmarks.scratch_db import drop_database, scratch_database
    from tests.support.processes import start_mosquitto

    print(f"ingest benchmark: {TOTAL:,} positions, {VEHICLES:,} vehicles, QoS 1; {machine()}")
    print(f"batch bound {settings.INGEST_BATCH_MAX}, flush timer {settings.INGEST_FLUSH_MS} ms")
    database = scratch_database("ingest", app_label="realtime_engine")
    register_fleet([*map(consumer_prefix, modes), PACED_PREFIX])
    workdir = Path(tempfile.mkdtemp(prefix="bench-ingest-"))
    broker, port = start_mosquitto(workdir / "mosquitto")
    root = f"bench-{uuid.uuid4().hex[:8]}"
    probe = ConsumerProbe()
    try:
        for mode in modes:
            started = time.monotonic()
            ceiling = measure_ceiling(port, root, mode)
            rate, lost = measure_consumer(port, root, mode, probe)
            elapsed = time.monotonic() - started
            print(comparison_line(mode, "counting subscriber", ceiling, rate, lost, elapsed))
        p50, p99, lost = measure_latency(port, root, probe)
        print(
            f"   paced: {PACED_RATE:,} msg/s for {PACED_SECONDS} s | publish → hot state "
            f"p50 {p50:.1f} ms, p99 {p99:.1f} ms | lost {lost}"
        )
    finally:
        broker.stop()
        drop_database(database)


if __name__ == "__main__":
    if sys.argv[1:2] == ["publish"]:
        publish_main(sys.argv[2:])
    else:
        main(sys.argv[1:])
