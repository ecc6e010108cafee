"""`make bench-streams`: the Redis Streams consumer against a counting XREADGROUP consumer.

On a private Redis (``scratch_redis``: the system one is never touched) and a scratch
database (``<name>_bench_streams``, dropped at the end), 1,000 vehicles are registered
with tracker IMEIs (``benchmarks.ingest.register_fleet``) and the stream is filled with
200,000 gateway records (``--entries N`` changes that; ``BENCH_STREAMS_ARGS`` in make)
by the reference publisher (``StreamsPublisher``, pipelined XADD): each vehicle's fixes
one second apart, moving along its own street, with speed, angle and the odometer (IO
element 16). Then the same entries are drained, each time by a fresh consumer group read
from the stream's first entry:

- *counting XREADGROUP*: one plain client reading with the consumer's COUNT
  (``STREAMS_BATCH_MAX``) that only counts and XACKs each batch: the ceiling;
- *consumer*: the real one (``build_streams_consumer()``: record decoding and the device
  map, validation, hot state, the worker's batch observers, history to PostgreSQL in its
  own thread, XACK once durable), timed until the group has read every entry and has
  none pending;
- the same without batch observers, as ``make bench-ingest`` measures the MQTT consumer
  (so the two ingresses compare like for like): on a refilled stream, with hot state and
  history emptied first.

Reported: the rates (entries/s), each consumer's ratio to the counting one and ``lost``
(entries without their row in history, counted in PostgreSQL; 0 expected), dead letters
(0 expected).
"""

from __future__ import annotations

import argparse
import os
import threading
import time
import uuid

from benchmarks.ingest import (
    VEHICLES,
    comparison_line,
    django_setup,
    fleet_ids,
    history_count,
    machine,
    register_fleet,
)

TOTAL = 200_000
PREFIX = "avl-"
BASELINE_GROUP = "bench-count"
DRAIN_TIMEOUT_S = 900
POLL_S = 0.05
# Where the fleet drives: a grid of parallel streets, about 220 m apart.
ORIGIN = (38.88, -77.05)
STREET_SPACING_DEG = 0.002


def fill_stream(client, stream: str, imeis: dict[str, str], total: int) -> float:
    """XADD ``total`` records round-robin over the fleet, oldest first; the fill rate."""
    from realtime_engine.simulation.publishing import Fix
    from realtime_engine.simulation.streams_publisher import StreamsPublisher

    publisher = StreamsPublisher(client, stream, imeis, maxlen=total, name="bench")
    vehicles = fleet_ids(PREFIX)
    seconds = -(-total // VEHICLES)
    base = int(time.time()) - seconds - 120
    started = time.perf_counter()
    for i in range(total):
        v, t = i % VEHICLES, i // VEHICLES
        speed_mps = 6.0 + (v % 7)
        publisher.publish_position(
            vehicles[v],
            Fix(
                latitude=ORIGIN[0] + (v % 40) * STREET_SPACING_DEG,
                longitude=ORIGIN[1] + (v // 40) * STREET_SPACING_DEG + t * speed_mps * 1.15e-5,
                timestamp=base + t,
                bearing=90.0,
                speed_mps=speed_mps,
                odometer_m=25_000_000 + 5_000 * v + t * speed_mps,
            ),
        )
    if publisher.close(timeout_s=30):
        raise RuntimeError("the stream was not filled")
    return total / (time.perf_counter() - started)


def measure_baseline(client, stream: str, total: int, count: int) -> float:
    """A consumer group member that only counts and acknowledges; entries/s."""
    client.xgroup_create(stream, BASELINE_GROUP, id="0")
    read = 0
    started = time.perf_counter()
    while read < total:
        reply = client.xreadgroup(BASELINE_GROUP, "counter", {stream: ">"}, count=count, block=1000)
        if not reply:
            raise RuntimeError(f"counting consumer read {read} of {total}")
        ids = [entry_id for entry_id, _ in reply[0][1]]
        client.xack(stream, BASELINE_GROUP, *ids)
        read += len(ids)
    return total / (time.perf_counter() - started)


def group_done(client, stream: str, group: str, total: int) -> bool:
    """Every entry read by ``group`` and none pending (each stored or dead-lettered)."""
    for info in client.xinfo_groups(stream):
        if info["name"] == group:
            return info["pending"] == 0 and (info.get("entries-read") or 0) >= total
    return False


def measure_consumer(client, stream: str, total: int, observers) -> float:
    """The real consumer draining the stream in a fresh group; entries/s."""
    from django.conf import settings

    from realtime_engine.ingest.service import build_streams_consumer

    consumer = build_streams_consumer(
        consumer_name=f"bench-{uuid.uuid4().hex[:6]}", stream_keys=(stream,), observers=observers
    )
    thread = threading.Thread(target=consumer.run, daemon=True)
    started = time.perf_counter()
    thread.start()
    deadline = time.monotonic() + DRAIN_TIMEOUT_S
    try:
        while not group_done(client, stream, settings.STREAMS_GROUP, total):
            if time.monotonic() > deadline or not thread.is_alive():
                raise RuntimeError("the consumer did not drain the stream")
            time.sleep(POLL_S)
        elapsed = time.perf_counter() - started
    finally:
        consumer.request_stop()
        thread.join(60)
    return total / elapsed


def history_clear() -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE realtime_engine_positionrecord")


def drain_report(
    label: str, client, stream: str, total: int, observers, baseline: float, started: float
) -> None:
    """Drain with the real consumer, count the rows, print the line of ``label``."""
    from databus import keys

    rate = measure_consumer(client, stream, total, observers)
    lost = total - history_count(PREFIX)
    elapsed = time.monotonic() - started
    print(comparison_line(label, "counting XREADGROUP", baseline, rate, lost, elapsed, "entries/s"))
    print(
        f"          dead letters {client.xlen(keys.TELEMETRY_DLQ)};"
        f" load average {os.getloadavg()[0]:.1f}"
    )


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.streams")
    parser.add_argument("--entries", type=int, default=TOTAL, help=f"default {TOTAL:,}")
    total = parser.parse_args(argv).entries
    if total < VEHICLES:
        parser.error(f"--entries must be at least {VEHICLES}")
    from benchmarks.scratch_redis import scratch_redis

    with scratch_redis():
        measure_all(total)


def measure_all(total: int) -> None:
    django_setup()
    from django.conf import settings

    from benchmarks.scratch_db import drop_database, scratch_database
    from databus import keys
    from databus.redis import get_redis
    from realtime_engine.ingest.service import BATCH_OBSERVERS

    count = settings.STREAMS_BATCH_MAX
    print(
        f"streams benchmark: {total:,} entries, {VEHICLES:,} vehicles, COUNT {count};"
        f" {machine()}; load average {os.getloadavg()[0]:.1f}"
    )
    print("observed: the worker's batch observers; bare: none (as bench-ingest)")
    database = scratch_database("streams")
    client = get_redis()
    stream = keys.TELEMETRY_AVL_STREAM
    try:
        imeis = register_fleet([PREFIX], trackers=True)
        fill = fill_stream(client, stream, imeis, total)
        memory = client.memory_usage(stream, samples=0) / 2**20
        print(f"    fill: {fill:8,.0f} entries/s (StreamsPublisher), {memory:.0f} MiB in Redis")
        started = time.monotonic()
        baseline = measure_baseline(client, stream, total, count)
        drain_report("observed", client, stream, total, BATCH_OBSERVERS, baseline, started)
        # The same entries again, onto empty hot state and history.
        client.flushdb()
        history_clear()
        fill_stream(client, stream, imeis, total)
        drain_report("bare", client, stream, total, (), baseline, time.monotonic())
    finally:
        drop_database(database)


if __name__ == "__main__":
    import sys

    main(sys.argv[1:])
