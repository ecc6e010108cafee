"""Matching agreement through the full pipeline: the WMATA trace replayed over MQTT.

``make bench-progression`` runs it after the offline harness (``benchmarks.progression``).
The trace's first ``--minutes`` are replayed with the ``replay_avl`` planner and runner
(runs created and confirmed through the lifecycle service, timestamps shifted to now,
``--speed`` times real time) into a private Mosquitto and Redis; an in-process
ingest consumer runs the real batch observers (detector dispatch, progression) with
the WMATA stop-zone convention, and a real ``celery worker`` applies the lifecycle
events. A last observer, added for the measurement, reads what the progression
producer published for each ping's run (``vehicle_stop_status``, or the pre-trip
phase, which WMATA reports as STOPPED_AT the first stop) and compares it with the
agency's own ``current_stop_sequence`` of that ping, as the offline harness does.
Uses a scratch database ``<name>_bench_progression``, dropped at the end.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

FIXTURES = Path(__file__).resolve().parent.parent.parent / "shared" / "fixtures" / "wmata"
WMATA_ZONE = {  # runs.domain.progression.config.WMATA, as settings
    "PROGRESSION_STOPPED_RADIUS_M": "50",
    "PROGRESSION_INCOMING_RADIUS_M": "50",
    "PROGRESSION_STOPPED_MAX_SPEED_MPS": "-1",
}


SAME_SECOND = "two pings in one replayed second"
NO_RUN = "no run in progress yet"


@dataclass
class Tally:
    """Pings by outcome; ``exact``/``near`` count agreement with the agency's stop."""

    seen: Counter[str] = field(default_factory=Counter)
    exact: Counter[str] = field(default_factory=Counter)
    near: Counter[str] = field(default_factory=Counter)


class AgreementRecorder:
    """A batch observer placed after the real ones: compares what they published."""

    def __init__(self, pings_by_key: dict, geometry_of) -> None:
        self._pings = pings_by_key
        self._geometry_of = geometry_of
        self.tally = Tally()
        self._lock = threading.Lock()

    def __call__(self, batch, redis_client) -> None:
        from databus import keys

        vehicle_ids = list(batch.positions)
        pipe = redis_client.pipeline(transaction=False)
        for vehicle_id in vehicle_ids:
            pipe.get(keys.vehicle_current_run(vehicle_id))
        run_ids = pipe.execute()
        pipe = redis_client.pipeline(transaction=False)
        for run_id in run_ids:
            pipe.hgetall(keys.run_vehicle_stop_status(run_id or "-"))
            pipe.hget(keys.run_progression(run_id or "-"), "phase")
            pipe.hget(keys.run(run_id or "-"), "trip_id")
        replies = pipe.execute()
        with self._lock:
            for index, vehicle_id in enumerate(vehicle_ids):
                position = batch.positions[vehicle_id]
                key = (vehicle_id, position.timestamp)
                ping = self._pings.get(key)
                if ping is None:
                    if key in self._pings:
                        self.tally.seen[SAME_SECOND] += 1
                    continue
                status, phase, trip_id = replies[3 * index : 3 * index + 3]
                self._count(ping, status, phase, trip_id)

    def _count(self, ping, status: dict, phase: str | None, trip_id: str | None) -> None:
        geometry = self._geometry_of(ping.trip_id) if trip_id == ping.trip_id else None
        if geometry is None or phase is None:
            self.tally.seen[NO_RUN] += 1
            return
        if phase == "pre_trip":
            kind, ours = "layover", 0
        elif status.get("current_stop_sequence"):
            kind = "on-route"
            sequence = int(status["current_stop_sequence"])
            ours = geometry.stop_sequences.index(sequence)
        else:
            self.tally.seen[NO_RUN] += 1
            return
        expected = ping.current_stop_sequence
        theirs = (
            geometry.stop_sequences.index(expected) if expected in geometry.stop_sequences else None
        )
        self.tally.seen[kind] += 1
        self.tally.exact[kind] += ours == theirs
        self.tally.near[kind] += theirs is not None and abs(ours - theirs) <= 1


def _pct(part: int, whole: int) -> str:
    return f"{100 * part / whole:6.2f} %" if whole else "      - "


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=30.0, help="of the trace to replay")
    parser.add_argument("--speed", type=float, default=10.0, help="times real time")
    options = parser.parse_args()

    from benchmarks.scratch_redis import scratch_redis

    with scratch_redis():
        replay_and_measure(options)


def replay_and_measure(options: argparse.Namespace) -> None:
    from tests.support.processes import start_celery_worker, start_mosquitto

    workdir = Path(tempfile.mkdtemp(prefix="bench-progression-"))
    broker, broker_port = start_mosquitto(workdir / "mosquitto")
    root = f"bench-{uuid.uuid4().hex[:8]}"
    os.environ.update(
        MQTT_URL=f"mqtt://127.0.0.1:{broker_port}",
        MQTT_TOPIC_ROOT=root,
        LOG_LEVEL=os.environ.get("LOG_LEVEL", "WARNING"),
        # Replayed buses drive ``speed`` times faster: so may the matcher's window reach.
        PROGRESSION_MAX_SPEED_MPS=str(30.0 * options.speed),
        **WMATA_ZONE,
    )
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "backend.settings")
    import django

    django.setup()
    from django.conf import settings

    from benchmarks.scratch_db import database_url, drop_database, scratch_database
    from realtime_engine.ingest.service import BATCH_OBSERVERS, build_consumer
    from realtime_engine.replay.plan import ReplayClock, plan_replay, select_pings
    from realtime_engine.replay.runner import ReplayRunner, replay_prepare, replay_publisher
    from realtime_engine.replay.trace import read_trace
    from realtime_engine.tests.wmata_slice import write_gtfs_slice
    from schedule_engine.selectors import trip_geometry_get
    from schedule_engine.testing import import_feed

    database = scratch_database("progression")
    worker = consumer = thread = None
    try:
        trace = read_trace(FIXTURES / "avl.csv")
        start = min(p.timestamp for p in trace)
        window = select_pings(p for p in trace if p.timestamp < start + 60 * options.minutes)
        trips = {p.trip_id for p in window}
        import_feed(write_gtfs_slice(FIXTURES / "gtfs.zip", trips, workdir / "gtfs.zip"))
        plan = plan_replay(window)
        actors = replay_prepare(plan)

        worker_env = dict(os.environ, DATABASE_URL=database_url(), WORKER_METRICS_PORT="0")
        worker = start_celery_worker(worker_env, workdir / "worker", name="bench-progression")
        clock = ReplayClock(plan.start_at, time.time() + 5.0, options.speed)
        # Two pings of a vehicle in one replayed second cannot be told apart (timestamps are
        # whole seconds; the matcher keeps the first): they are counted, not compared.
        pings: dict = {}
        for p in window:
            key = (p.vehicle_id, round(clock.wall_at(p.timestamp)))
            pings[key] = None if key in pings else p
        recorder = AgreementRecorder(pings, trip_geometry_get)
        consumer = build_consumer(client_id=f"bench-{root}", observers=(*BATCH_OBSERVERS, recorder))
        thread = threading.Thread(target=consumer.run, daemon=True)
        thread.start()
        if not consumer.ready.wait(30):
            raise RuntimeError("consumer did not subscribe")
        print(
            f"pipeline replay: {len(window)} pings, {len(plan.runs)} runs, "
            f"{len(plan.vehicles)} vehicles, first {options.minutes:.0f} min of the trace at "
            f"{options.speed:.0f}x (zone ±50 m, WMATA convention)"
        )
        publisher = replay_publisher(settings.MQTT_ADDRESS, root)
        try:
            report = ReplayRunner(plan, clock, publisher, actors).run()
        finally:
            publisher.close()
        time.sleep(2.0)  # the last batches
        tally = recorder.tally
        print(f"    published {report.published}, runs started {report.runs_started}")
        print(f"{'pings':>32} {'count':>7} {'exact':>8} {'±1 stop':>8}")
        kinds = ("on-route", "layover")
        total = [sum(c[k] for k in kinds) for c in (tally.seen, tally.exact, tally.near)]
        for kind in kinds:
            print(
                f"{kind:>32} {tally.seen[kind]:>7} {_pct(tally.exact[kind], tally.seen[kind])} "
                f"{_pct(tally.near[kind], tally.seen[kind])}"
            )
        print(
            f"{'all matched':>32} {total[0]:>7} {_pct(total[1], total[0])} "
            f"{_pct(total[2], total[0])}"
        )
        for reason in (NO_RUN, SAME_SECOND):
            print(f"{reason:>32} {tally.seen[reason]:>7} (not compared)")
    finally:
        if consumer is not None:
            consumer.request_stop()
            thread.join(10)
        if worker is not None:
            worker.stop()
        broker.stop()
        drop_database(database)


if __name__ == "__main__":
    main()
