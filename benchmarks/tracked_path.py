"""`make bench-tracked`: worker CPU per tracked message, through the ingest code below paho.

N vehicles (``--vehicles``, default 2,000), each on its own run In Progress on a generated
network (``benchmarks.generated_network``), report their position along their trip's shape
at 1 Hz of simulated time. Every message is pre-encoded (the publisher's work is not the
worker's), then fed in batches of ``--batch`` messages (default 20: what the consumer forms
at 2,000 msg/s with its 10 ms flush timer, ``INGEST_FLUSH_MS``) through what the MQTT
consumer does with a flushed inbox (``consumer._flush``): decode, ``TelemetryPipeline``
(plan, hot-state and dead-letter write, metrics), position history in its background
thread, and every batch observer of the worker (``service.BATCH_OBSERVERS``: progression,
detector dispatch, the live fan-out, with the ``all`` group watched so that it encodes and
sends). A private Redis (``scratch_redis``) and a scratch database (``scratch_db``).

``--workers K`` reproduces what one of K workers on a round-robin shared subscription
(Mosquitto's) does: batches a K-th the size, and each vehicle's previous fix matched by
another worker K - 1 times in K (the run state this worker wrote is not the stored one, so
it reads and decodes it again; ``realtime_engine.progression.written_runs``). With
``--saturated`` the batches stay ``--batch`` messages: each of the K workers is as busy as
one worker alone (K times the stream), which is how they carry K times its sustained
rate; the misses are what is left between the two.

Reported: CPU µs per message (``time.process_time``: every thread of the process, so the
history writer and the fan-out loop are included, and split by thread) over the measured
seconds, after
``--warmup`` seconds that fill the per-process caches; with ``--profile`` a cProfile top 25
by cumulative and by own time. The simulated clock runs as fast as the CPU allows, so the
run's stale threshold is lifted (the detectors would otherwise see old positions); every
other setting is the worker's.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import io
import os
import pstats
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

ROOT = "bench-tracked"


def tick_messages(trips: Sequence, at: int) -> list[tuple[str, bytes]]:
    """Every vehicle's (topic, payload) for POSIX second ``at``, as the simulator encodes them."""
    from benchmarks.generated_network import vehicle_fix
    from realtime_engine.simulation.messages import position_payload

    return [
        (f"{ROOT}/vehicle/{trip.vehicle_id}/position", position_payload(vehicle_fix(trip, at)))
        for trip in trips
    ]


def chunks(items: list, size: int) -> Iterator[list]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


class Feeder:
    """What ``TelemetryConsumer._flush`` does with an inbox, without the paho client."""

    def __init__(self, observers) -> None:
        from django.conf import settings

        from databus.redis import get_redis
        from realtime_engine.ingest.background_history import BackgroundHistory
        from realtime_engine.ingest.history import DatabaseTarget, HistoryWriter
        from realtime_engine.ingest.pipeline import TelemetryPipeline
        from realtime_engine.ingest.vehicle_registry import vehicle_admission

        self._pipeline = TelemetryPipeline(
            get_redis(),
            vehicles=vehicle_admission(
                allow_unknown=settings.INGEST_ALLOW_UNKNOWN_VEHICLES,
                refresh_s=settings.INGEST_VEHICLE_REGISTRY_REFRESH_S,
            ),
            observers=observers,
            dlq_maxlen=settings.DLQ_MAXLEN,
        )
        self.history = BackgroundHistory(HistoryWriter(DatabaseTarget.from_django()), wake=noop)

    def flush(self, messages: list[tuple[str, bytes]]) -> None:
        from realtime_engine.ingest.background_history import Submission
        from realtime_engine.ingest.decode import receive_message

        received_at = time.time()
        written = self._pipeline.write(
            (receive_message(topic, payload, received_at, ROOT) for topic, payload in messages),
            size=len(messages),
        )
        self.history.submit(Submission(0, written.plan.history, []))
        self._pipeline.publish(written)

    def settle(self) -> None:
        """Wait until the history thread wrote everything submitted (its CPU counts too)."""
        while self.history.outstanding:
            time.sleep(0.005)
        list(self.history.completed())


def thread_cpu() -> dict[str, float]:
    """CPU seconds of each live thread of this process, by thread name."""
    out = {}
    for thread in threading.enumerate():
        with contextlib.suppress(OSError, TypeError):
            out[thread.name] = time.clock_gettime(time.pthread_getcpuclockid(thread.ident))
    return out


def noop() -> None:
    pass


def drive(
    feeder: Feeder, ticks: list[list[tuple[str, bytes]]], batch: int, workers: int = 1
) -> None:
    from realtime_engine.progression import written_runs

    for second, messages in enumerate(ticks):
        if second % workers:
            # Round robin dealt this vehicle's previous fix to another worker: whatever this
            # one wrote of its run is not the stored state any more.
            written_runs.clear()
        for part in chunks(messages, batch):
            feeder.flush(part)
    feeder.settle()


def print_outcome(vehicle_ids: Sequence[str]) -> None:
    """What the observers produced: the runs publishing a stop status and predictions, the
    stop events recorded and the detector events enqueued (the same with or without a change)."""
    import redis
    from django.conf import settings

    from databus import keys
    from databus.redis import get_redis
    from realtime_engine.models import StopEvent

    client = get_redis()
    run_ids = [r for r in client.mget([keys.vehicle_current_run(v) for v in vehicle_ids]) if r]
    pipe = client.pipeline(transaction=False)
    for run_id in run_ids:
        pipe.exists(keys.run_vehicle_stop_status(run_id))
        pipe.exists(keys.run_stop_time_updates(run_id))
    flags = pipe.execute()
    queued = redis.Redis.from_url(settings.CELERY_BROKER_URL).llen("celery")
    print(
        f"    runs with a stop status {sum(flags[0::2])}/{len(run_ids)}, with predictions "
        f"{sum(flags[1::2])}; stop events {StopEvent.objects.count()}; "
        f"detector tasks enqueued {queued}"
    )


def print_profile(profile: cProfile.Profile, messages: int) -> None:
    for key, title in (("cumulative", "cumulative"), ("tottime", "own time")):
        out = io.StringIO()
        stats = pstats.Stats(profile, stream=out).strip_dirs().sort_stats(key)
        stats.print_stats(25)
        print(f"--- cProfile, top 25 by {title} ({messages} messages) ---")
        print("\n".join(line for line in out.getvalue().splitlines()[6:] if line.strip()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vehicles", type=int, default=2_000)
    parser.add_argument("--batch", type=int, default=20, help="messages per ingest batch")
    parser.add_argument("--seconds", type=int, default=60, help="simulated seconds measured")
    parser.add_argument("--warmup", type=int, default=10, help="simulated seconds first")
    parser.add_argument("--profile", action="store_true", help="cProfile the measured seconds")
    parser.add_argument(
        "--workers",
        type=int,
        default=1,
        help="as one of K workers on a round-robin shared subscription (batches / K, and "
        "the runs' stored state written by another worker K - 1 times in K)",
    )
    parser.add_argument(
        "--saturated",
        action="store_true",
        help="with --workers K: each worker as busy as one alone (batches of --batch, not / K)",
    )
    options = parser.parse_args()

    from benchmarks.scratch_redis import scratch_redis

    with scratch_redis():
        measure(options)


def measure(options: argparse.Namespace) -> None:
    os.environ.update(
        MQTT_TOPIC_ROOT=ROOT,
        LOG_LEVEL=os.environ.get("LOG_LEVEL", "WARNING"),
        # Simulated seconds pass faster than wall ones: positions must not turn stale.
        RUN_STALE_AFTER_S="86400",
    )
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "backend.settings")
    import django

    django.setup()
    from benchmarks.generated_network import network_generate, network_import, runs_start
    from benchmarks.scratch_db import drop_database, scratch_database
    from databus import keys
    from databus.redis import get_redis
    from realtime_engine.ingest.service import BATCH_OBSERVERS
    from realtime_engine.ws import groups

    database = scratch_database("tracked")
    batch = options.batch if options.saturated else max(1, options.batch // options.workers)
    try:
        started = time.perf_counter()
        network = network_generate(options.vehicles, at=time.time())
        with tempfile.TemporaryDirectory(prefix="bench-tracked-") as folder:
            network_import(network, Path(folder))
        runs_start(network)
        print(
            f"tracked path: {options.vehicles} vehicles on runs In Progress "
            f"(prepared in {time.perf_counter() - started:.0f} s), batches of {batch}"
            + (f" (one of {options.workers} workers)" if options.workers > 1 else "")
            + (", each saturated" if options.saturated and options.workers > 1 else "")
            + ", "
            f"{options.warmup} s warm-up + {options.seconds} s measured at 1 Hz"
        )
        # Positions the preparation wrote (the lifecycle guards read them) may be newer than
        # the simulated clock: without them, the first tick's positions become hot state.
        get_redis().delete(*[keys.vehicle_position(v) for v in network.vehicle_ids])
        # Someone watches the whole fleet: the fan-out encodes and sends every flush.
        get_redis().zadd(keys.LIVE_ACTIVE_GROUPS, {groups.ALL_GROUP: time.time() + 86_400})
        # The seconds driven end now: every position is in the past, as ingest requires.
        total = options.warmup + options.seconds
        first = int(time.time()) - total
        ticks = [tick_messages(network.trips, first + k) for k in range(total)]
        feeder = Feeder(BATCH_OBSERVERS)
        drive(feeder, ticks[: options.warmup], batch, options.workers)
        measured = ticks[options.warmup :]
        count = sum(len(t) for t in measured)
        # The ingest thread's CPU time, not wall time: waiting on Redis and PostgreSQL is not work.
        profile = cProfile.Profile(time.thread_time) if options.profile else None
        threads, cpu, wall = thread_cpu(), time.process_time(), time.perf_counter()
        if profile:
            profile.enable()
        drive(feeder, measured, batch, options.workers)
        if profile:
            profile.disable()
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        print(
            f"    {count} messages: {1e6 * cpu / count:.0f} µs CPU per message "
            f"({count / wall:.0f} msg/s wall, CPU {100 * cpu / wall:.0f} % of one core)"
            + (" [under cProfile]" if profile else "")
        )
        split = {name: spent - threads.get(name, 0.0) for name, spent in thread_cpu().items()}
        print(
            "    by thread: "
            + ", ".join(
                f"{'ingest' if name == 'MainThread' else name} {1e6 * spent / count:.0f}"
                for name, spent in sorted(split.items(), key=lambda kv: -kv[1])
                if spent > 0
            )
        )
        print_outcome(network.vehicle_ids)
        if profile:
            print_profile(profile, count)
    finally:
        drop_database(database)


if __name__ == "__main__":
    main()
