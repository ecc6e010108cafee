"""Acceptance: ``manage.py simulate`` drives runs to Completed through the real pipeline.

The demo network is imported; a real ``celery worker --beat`` runs the MQTT consumer,
the detectors, the stale scan and the feed builds (thresholds shortened through its
environment); the simulator runs as its own process (the real command) with three
vehicles at speed-up 60 and every fault. The test watches the database and the
``feed:*`` hashes: runs reach Completed through the detectors, the feeds carry them
while they are In Progress, the silenced vehicle's run goes No Signal and comes back,
the invalid payloads reach the dead-letter stream, and SIGTERM stops the simulator
cleanly, releasing its runs.
"""

from __future__ import annotations

import datetime as dt

import pytest

from databus import keys
from realtime_engine.simulation.faults import PAYLOADS_OF, FaultKind
from realtime_engine.simulation.runner import SIMULATOR_USERNAME
from realtime_engine.tests.lifecycle_support import (
    FeedSightings,
    demo_feed_at_peak,
    simulated_runs,
    simulator_start,
    simulator_watch,
    transitions_of,
)
from realtime_engine.tests.test_worker import ingest_env, wait_subscribed
from runs.domain.lifecycle.states import CLAIMING_STATES, RunState
from runs.models import RunLifecycleTransition
from schedule_engine.testing import import_feed

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

VEHICLES = 3
SPEEDUP = 60
# The loop ends as soon as every expectation is met; this bounds a slow, loaded machine.
WATCH_S = 90.0


def test_simulated_fleet_completes_runs_and_the_feeds_show_them_in_progress(
    process_env, celery_worker_factory, private_broker, redis_client, tmp_path
):
    import_feed(demo_feed_at_peak(tmp_path / "gtfs", dt.datetime.now(dt.UTC)))
    env = ingest_env(
        process_env,
        private_broker,
        FEED_BUILD_INTERVAL_S="1",
        RUN_STALE_AFTER_S="4",
        RUN_SCAN_INTERVAL_S="1",
        # Timestamps are wall seconds and speeds are reported k times faster: in the
        # compressed clock the fastest plausible bus is k times faster too.
        PROGRESSION_MAX_SPEED_MPS=str(30 * SPEEDUP),
    )
    worker = celery_worker_factory(env, beat=True)
    wait_subscribed(worker)
    log_path = tmp_path / "simulator.log"
    with log_path.open("wb") as log:
        simulator = simulator_start(
            env,
            log,
            *("--vehicles", str(VEHICLES), "--speedup", str(SPEEDUP)),
            *("--faults", "stale,malformed,out_of_bounds"),
            # With this seed SIM-001 is the silenced vehicle; it takes the first-ranked
            # trip, never the demo's loop route (whose departures tie with route 1's).
            *("--seed", "databus"),
        )

    def done(seen: FeedSightings) -> bool:
        completed = simulated_runs().filter(run_lifecycle_state=RunState.COMPLETED)
        restored = RunLifecycleTransition.objects.filter(
            run__vehicle__id__startswith="SIM-", event="run_tracking_restored", accepted=True
        )
        return completed.count() >= VEHICLES and restored.exists() and bool(seen.trip_updates)

    seen = simulator_watch(simulator, worker, log_path, redis_client, until=done, timeout_s=WATCH_S)
    output = log_path.read_text()
    assert "stopped:" in output and "Traceback" not in output, output[-3000:]

    # Runs reached Completed at their terminal, through the real detectors.
    completed = list(simulated_runs().filter(run_lifecycle_state=RunState.COMPLETED))
    assert len(completed) >= VEHICLES, output[-3000:]
    for run in completed:
        events = transitions_of(run)
        assert events[:3] == [
            ("validate_run", "dispatcher", SIMULATOR_USERNAME),
            ("initialize_run", "dispatcher", SIMULATOR_USERNAME),
            ("run_confirmed_by_operator", "dispatcher", SIMULATOR_USERNAME),
        ]
        assert ("run_started", "system", "") in events
        assert events[-1] == ("run_completed", "system", "")

    # The feeds carried the runs while they were In Progress.
    assert seen.vehicle_positions, "no In Progress run seen in VehiclePositions"
    assert seen.trip_updates, "no In Progress run seen in TripUpdates"

    # stale: one vehicle went silent long enough for No Signal, then came back.
    silent = [
        run
        for run in simulated_runs()
        if {"run_tracking_lost", "run_tracking_restored"} <= {e for e, _, _ in transitions_of(run)}
    ]
    assert silent, "no run went No Signal and back"

    # malformed, out_of_bounds: every invalid payload reached the dead-letter stream.
    reasons = {fields["reason"] for _, fields in redis_client.xrange(keys.TELEMETRY_DLQ)}
    assert len(redis_client.xrange(keys.TELEMETRY_DLQ)) >= sum(
        len(PAYLOADS_OF[kind]) for kind in (FaultKind.MALFORMED, FaultKind.OUT_OF_BOUNDS)
    )
    assert {"not_json", "negative_occupancy", "coordinates_out_of_range"} <= reasons

    # A clean stop released what the simulator still held.
    claiming = [state.value for state in CLAIMING_STATES if state is not RunState.NO_SIGNAL]
    assert not simulated_runs().filter(run_lifecycle_state__in=claiming).exists()
    assert "Traceback" not in worker.log()
