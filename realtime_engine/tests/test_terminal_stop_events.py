"""Acceptance: every run that completes has the stop event of its trip's last stop.

A real ``celery worker`` (ingest consumer, progression, detector dispatch, and the
lifecycle task that applies the completion), a private broker, real Redis and
PostgreSQL. Four WMATA runs (In Progress through the lifecycle service) and the last ten
minutes of their recorded pings, with their own timestamps: the detector completes each
at its terminal, and the terminal's arrival must be on record. WMATA's buses end their
trips 40 m or more (along the shape) before the terminal stop: no trip of the trace
comes nearer, so with the default 30 m zone none would complete. The deployment's
terminal zone is set to 80 m here, as an agency with that convention would set it.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from databus import keys
from realtime_engine.ingest.topics import TelemetryLeaf, vehicle_topic
from realtime_engine.models import StopEvent
from realtime_engine.replay.plan import ReplayClock, plan_replay, select_pings
from realtime_engine.replay.runner import replay_prepare
from realtime_engine.replay.trace import read_trace
from realtime_engine.tests.mqtt_support import publish
from realtime_engine.tests.test_shared_subscription_workers import start_in_progress
from realtime_engine.tests.test_worker import ingest_env, wait_subscribed
from realtime_engine.tests.wmata_slice import write_gtfs_slice
from runs.domain.lifecycle.states import RunState
from runs.models import Run
from schedule_engine.selectors import trip_geometry_get
from schedule_engine.testing import import_feed
from tests.support.processes import wait_for

# Trips the trace follows nearest to their terminal (40-54 m along the shape), four buses.
TRIPS = ("34388100", "14367100", "36561100", "28463100")
LAST_S = 600  # the last ten minutes of each


@pytest.mark.slow
def test_every_completed_run_has_its_terminal_stop_event(
    fixtures_dir: Path,
    tmp_path: Path,
    process_env,
    celery_worker_factory,
    private_broker,
    redis_client,
):
    wmata = fixtures_dir / "wmata"
    import_feed(write_gtfs_slice(wmata / "gtfs.zip", set(TRIPS), tmp_path / "gtfs.zip"))
    pings = select_pings(read_trace(wmata / "avl.csv"), trips=frozenset(TRIPS))
    ends = {}
    for ping in pings:
        ends[ping.trip_id] = max(ends.get(ping.trip_id, 0), ping.timestamp)
    pings = [p for p in pings if p.timestamp > ends[p.trip_id] - LAST_S]
    plan = plan_replay(pings)
    runs = start_in_progress(plan, replay_prepare(plan), redis_client)
    assert len(runs) == len(TRIPS)
    for run in runs:  # the replayed pings, older than the guards' telemetry, become current
        redis_client.delete(keys.vehicle_position(run.vehicle_id))
        redis_client.zrem(keys.RUNS_LAST_SEEN, str(run.pk))

    env = ingest_env(
        process_env,
        private_broker,
        RUN_TERMINAL_ZONE_M="80",
        PROGRESSION_STOPPED_RADIUS_M="50",  # WMATA's convention (README, Configuration)
        PROGRESSION_INCOMING_RADIUS_M="50",
        PROGRESSION_STOPPED_MAX_SPEED_MPS="-1",
    )
    worker = celery_worker_factory(env)
    wait_subscribed(worker)
    clock = ReplayClock(trace_start=plan.start_at, wall_start=plan.start_at)  # own timestamps
    root = process_env["MQTT_TOPIC_ROOT"]
    publish(
        private_broker,
        [
            (vehicle_topic(root, p.vehicle_id, TelemetryLeaf.POSITION), clock.payload(p))
            for p in pings
        ],
    )

    def completed() -> bool:
        return all(Run.objects.get(pk=r.pk).state == RunState.COMPLETED for r in runs)

    try:
        wait_for(completed, 60, "runs completed at their terminals")
    except TimeoutError:
        print({str(r.pk): Run.objects.get(pk=r.pk).state for r in runs})
        print(worker.log())
        raise
    for run in runs:
        terminal = trip_geometry_get(run.trip_id).stop_sequences[-1]
        event = StopEvent.objects.filter(run=run, stop_sequence=terminal).first()
        assert event is not None, f"run {run.pk} ({run.trip_id}) completed without its terminal"
        assert event.departed_at is None
        assert event.arrived_at.timestamp() <= ends[run.trip_id]
    assert "Traceback" not in worker.log()
