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
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from google.transit import gtfs_realtime_pb2

from databus import keys
from realtime_engine.simulation.faults import PAYLOADS_OF, FaultKind
from realtime_engine.simulation.runner import SIMULATOR_USERNAME
from realtime_engine.tests.test_worker import ingest_env, wait_subscribed
from runs.domain.lifecycle.states import CLAIMING_STATES, RunState
from runs.models import Run, RunLifecycleTransition
from schedule_engine.demo_network.clock import demo_network_copy, zone_at_local_hour
from schedule_engine.feeds.store import FeedName, feed_get
from schedule_engine.testing import import_feed

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

ROOT = Path(__file__).resolve().parents[2]
VEHICLES = 3
SPEEDUP = 60
# The loop ends as soon as every expectation is met; this bounds a slow, loaded machine.
WATCH_S = 90.0
# The demo's weekday morning peak: seven or more trips under way or due at every minute
# of this hour and the next (evenings and weekends have minutes with none, and a vehicle
# given a later trip lays over in wall time, far longer than the test watches).
PEAK_LOCAL_HOUR = 7


def demo_feed_at_peak(folder: Path, now: dt.datetime) -> Path:
    """The demo network with its clock pinned: a time zone whose local hour is
    ``PEAK_LOCAL_HOUR`` at ``now``, and weekday service on every day, so the test sees
    the same schedule whenever it runs."""
    demo_network_copy(folder, zone_at_local_hour(now, PEAK_LOCAL_HOUR))
    calendar = folder / "calendar.txt"
    text = calendar.read_text()
    assert "WK,1,1,1,1,1,0,0" in text, "the demo's weekday service changed"
    calendar.write_text(text.replace("WK,1,1,1,1,1,0,0", "WK,1,1,1,1,1,1,1"))
    return folder


def feed_trip_ids(client, name: FeedName) -> set[str]:
    stored = feed_get(client, name)
    if stored is None:
        return set()
    message = gtfs_realtime_pb2.FeedMessage()
    message.ParseFromString(stored.payload)
    if name is FeedName.VEHICLE_POSITIONS:
        return {e.vehicle.trip.trip_id for e in message.entity if e.vehicle.trip.trip_id}
    return {e.trip_update.trip.trip_id for e in message.entity}


def simulated_runs():
    return Run.objects.filter(vehicle__id__startswith="SIM-")


def transitions_of(run) -> list[tuple[str, str, str]]:
    rows = RunLifecycleTransition.objects.filter(run=run, accepted=True).select_related("actor")
    return [(t.event, t.actor_role, t.actor.username if t.actor else "") for t in rows]


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
        simulator = subprocess.Popen(
            [
                sys.executable,
                "manage.py",
                "simulate",
                "--vehicles",
                str(VEHICLES),
                "--speedup",
                str(SPEEDUP),
                "--faults",
                "stale,malformed,out_of_bounds",
                # With this seed SIM-001 is the silenced vehicle; it takes the first-ranked
                # trip, never the demo's loop route (whose departures tie with route 1's).
                "--seed",
                "databus",
            ],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    in_vehicle_feed, in_trip_feed = set(), set()
    try:
        deadline = time.monotonic() + WATCH_S
        while time.monotonic() < deadline:
            in_progress = set(
                simulated_runs()
                .filter(run_lifecycle_state=RunState.IN_PROGRESS)
                .values_list("trip_id", flat=True)
            )
            in_vehicle_feed |= in_progress & feed_trip_ids(redis_client, FeedName.VEHICLE_POSITIONS)
            in_trip_feed |= in_progress & feed_trip_ids(redis_client, FeedName.TRIP_UPDATES)
            completed = simulated_runs().filter(run_lifecycle_state=RunState.COMPLETED)
            restored = RunLifecycleTransition.objects.filter(
                run__vehicle__id__startswith="SIM-", event="run_tracking_restored", accepted=True
            )
            if completed.count() >= VEHICLES and restored.exists() and in_trip_feed:
                break
            time.sleep(0.25)
        assert simulator.poll() is None, "the simulator stopped on its own"
        simulator.send_signal(signal.SIGTERM)
        assert simulator.wait(30) == 0
    except BaseException:
        simulator.kill()
        print(log_path.read_text()[-5000:])
        print(worker.log()[-10_000:])
        raise
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
    assert in_vehicle_feed, "no In Progress run seen in VehiclePositions"
    assert in_trip_feed, "no In Progress run seen in TripUpdates"

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
