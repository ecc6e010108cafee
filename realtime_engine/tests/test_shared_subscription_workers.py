"""Acceptance: two ingest workers on one shared subscription give what one worker gives.

Real ``celery worker`` processes with the ingest consumer, a private broker per pass,
real Redis and PostgreSQL. Four WMATA runs (a slice of the GTFS, runs walked to In
Progress through the lifecycle service) and their 414 recorded pings, published as one
burst with their own timestamps: a backlog. One worker drains it; then, on a fresh
broker with the matcher state and stop events wiped, two workers sharing
``$share/<group>/…`` drain the same backlog, the broker dealing each vehicle's pings
between them round-robin, in batches of ten. Every run's matcher state, published stop
status, predictions, congestion and durable stop events must come out identical.
"""

from __future__ import annotations

import re
import time
import urllib.request
from pathlib import Path

import pytest

from databus import keys
from realtime_engine.ingest.topics import TelemetryLeaf, vehicle_topic
from realtime_engine.models import StopEvent
from realtime_engine.replay.plan import ReplayClock, plan_replay, select_pings
from realtime_engine.replay.runner import replay_prepare
from realtime_engine.replay.trace import read_trace
from realtime_engine.tests.mqtt_support import publish
from realtime_engine.tests.test_worker import ingest_env, wait_subscribed
from realtime_engine.tests.wmata_slice import write_gtfs_slice
from runs.domain.lifecycle.events import RunEvent
from runs.domain.lifecycle.states import RunState
from runs.models import Run, Vehicle
from runs.services.actors import SYSTEM
from runs.services.lifecycle import run_create, run_event_apply
from runs.tests.fixtures.runs import write_position
from schedule_engine.testing import import_feed
from tests.support.processes import free_port, start_mosquitto, wait_for

TRIPS = ("30095100", "5326100", "9625100", "16087100")
RUN_KEYS = (
    keys.run_progression,
    keys.run_progression_fixes,
    keys.run_progression_checkpoints,
    keys.run_vehicle_stop_status,
    keys.run_stop_time_updates,
    keys.run_congestion_level,
)
PUBLISHED_KEYS = RUN_KEYS[3:]


def start_in_progress(plan, actors, redis_client) -> list[Run]:
    """Each planned run created by its operator and walked to In Progress, as detectors do."""
    runs = []
    for planned in plan.runs:
        outcome = run_create(
            actor=actors[planned.vehicle_id],
            vehicle=Vehicle.objects.get(pk=planned.vehicle_id),
            trip_id=planned.trip_id,
            start_date=planned.start_date,
            start_time=planned.start_time,
        )
        assert outcome.refused is None, outcome.refused
        run = outcome.run
        steps = [
            (RunEvent.RUN_CONFIRMED_BY_OPERATOR, actors[planned.vehicle_id]),
            (RunEvent.RUN_TRACKING_STARTED, SYSTEM),
            (RunEvent.RUN_STARTED, SYSTEM),
        ]
        for event, actor in steps:
            # Fresh and moving, now: the guards' telemetry. The replayed pings are older,
            # so they never replace it in hot state (nor reach the detectors).
            write_position(redis_client, run, lat=38.9, lon=-77.03, speed=5.0, age_s=1)
            assert run_event_apply(run_id=run.pk, event=event, actor=actor).decision.accepted, event
        run.refresh_from_db()
        assert run.state == RunState.IN_PROGRESS
        runs.append(run)
    return runs


def accepted(port: int) -> float:
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    return metric(text, r'databus_ingest_messages_accepted_total\{entity="position"\}')


def metric(text: str, name: str) -> float:
    match = re.search(rf"^{name} (\S+)$", text, re.MULTILINE)
    return float(match.group(1)) if match else 0.0


def outcome_of(redis_client, runs: list[Run]) -> dict:
    out = {}
    for run in runs:
        run_id = str(run.pk)
        state = redis_client.hgetall(keys.run_progression(run_id))
        state.pop("revision", None)  # a clock: when it was written, not what
        out[run_id] = {
            "state": state,
            **{key(run_id): redis_client.hgetall(key(run_id)) for key in PUBLISHED_KEYS},
            "events": sorted(
                StopEvent.objects.filter(run=run).values_list(
                    "stop_sequence", "stop_id", "arrived_at", "departed_at", "source"
                )
            ),
            "lifecycle": Run.objects.get(pk=run.pk).state,
        }
    return out


def drain(env, celery_worker_factory, tmp_path, names, messages, redis_client, runs):
    """Start the workers on a fresh broker, publish the backlog, wait until it is matched."""
    broker, port = start_mosquitto(tmp_path / f"broker-{len(names)}")
    try:
        ports = [free_port() for _ in names]
        workers = [
            celery_worker_factory(
                ingest_env(
                    env,
                    f"mqtt://127.0.0.1:{port}",
                    MQTT_SHARED_GROUP="ingest",
                    MQTT_CLIENT_ID=name,
                    INGEST_BATCH_MAX="10",
                    # The window for late fixes spans the whole backlog (about 40 writes per
                    # run): a worker stalled while the other raced ahead must still have its
                    # fixes re-matched, not dropped as too late. A worker starved of
                    # compare-and-sets hands its fixes off (``observer.HAND_OFF_AFTER``).
                    PROGRESSION_CHECKPOINTS="64",
                    WORKER_METRICS_PORT=str(metrics_port),
                ),
                name=name,
            )
            for name, metrics_port in zip(names, ports, strict=True)
        ]
        for worker in workers:
            wait_subscribed(worker)
        # A worker that finds no epoch marker rebuilds hot state at start, resuming matcher
        # state from stop events: let that finish first, so the pass measures matching alone.
        wait_for(
            lambda: (
                redis_client.exists(keys.HOT_STATE_EPOCH)
                and not redis_client.exists(keys.HOT_STATE_REBUILD_LOCK)
            ),
            30,
            "the start-up hot-state rebuild",
        )
        publish(f"mqtt://127.0.0.1:{port}", messages)

        def drained() -> bool:
            return sum(accepted(p) for p in ports) == len(messages)

        try:
            wait_for(drained, 60, "backlog ingested")
            # Then until the observers are done: the outcome holds still for a second.
            settled = [outcome_of(redis_client, runs)]

            def still() -> bool:
                time.sleep(1.0)
                settled.append(outcome_of(redis_client, runs))
                return settled[-1] == settled[-2]

            wait_for(still, 30, "matching settled")
        except TimeoutError:
            print([accepted(p) for p in ports], len(messages))
            for worker in workers:
                print(worker.log())
            raise
        shares = [accepted(p) for p in ports]
        texts = [
            urllib.request.urlopen(f"http://127.0.0.1:{p}/metrics", timeout=5).read().decode()
            for p in ports
        ]
        for worker in workers:
            assert "Traceback" not in worker.log(), worker.log()
            worker.stop()
        return shares, texts
    finally:
        broker.stop()


@pytest.mark.slow
def test_two_workers_on_a_shared_subscription_match_a_backlog_as_one_worker_does(
    fixtures_dir: Path, tmp_path: Path, process_env, celery_worker_factory, redis_client
):
    wmata = fixtures_dir / "wmata"
    import_feed(write_gtfs_slice(wmata / "gtfs.zip", set(TRIPS), tmp_path / "gtfs.zip"))
    pings = select_pings(read_trace(wmata / "avl.csv"), trips=frozenset(TRIPS))
    plan = plan_replay(pings)
    runs = start_in_progress(plan, replay_prepare(plan), redis_client)
    assert len(runs) == len(TRIPS)
    clock = ReplayClock(trace_start=plan.start_at, wall_start=plan.start_at)  # own timestamps
    root = process_env["MQTT_TOPIC_ROOT"]
    messages = [
        (vehicle_topic(root, p.vehicle_id, TelemetryLeaf.POSITION), clock.payload(p)) for p in pings
    ]

    args = (process_env, celery_worker_factory, tmp_path)
    drain(*args, ["solo"], messages, redis_client, runs)
    one_worker = outcome_of(redis_client, runs)
    assert sum(len(o["events"]) for o in one_worker.values()) >= 20  # the runs passed stops

    for run in runs:  # the same start: no matcher state, no events (projections kept)
        redis_client.delete(*(key(str(run.pk)) for key in RUN_KEYS))
    StopEvent.objects.all().delete()
    shares, texts = drain(*args, ["left", "right"], messages, redis_client, runs)
    assert all(share > 0 for share in shares)  # the broker split the backlog between them
    raced = sum(
        metric(t, "databus_progression_rewinds_total")
        + metric(t, "databus_progression_cas_retries_total")
        for t in texts
    )
    assert raced > 0  # late fixes and lost races happened, and were re-matched
    assert sum(metric(t, "databus_progression_fixes_dropped_total") for t in texts) == 0
    two_workers = outcome_of(redis_client, runs)
    differing = [
        (run_id, key)
        for run_id, o in one_worker.items()
        for key in o
        if two_workers[run_id][key] != o[key]
    ]
    assert two_workers == one_worker, differing
