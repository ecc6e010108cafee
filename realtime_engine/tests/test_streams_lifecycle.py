"""Acceptance: runs tracked from Redis Streams telemetry go Tracking → In Progress → Completed
and appear in both GTFS-RT feeds.

The demo network is imported; a real ``celery worker --beat`` runs the Streams consumer
(``STREAMS_CONSUMER_ENABLED=true``; MQTT off, its broker address a closed port), the
detectors, the stale scan and the feed builds; ``manage.py simulate --ingress streams``
runs as its own process and XADDs gateway records under the vehicles' tracker IMEIs to
the stream the worker reads (the first of ``STREAMS_KEYS``, the simulator's default).
The test watches the database and the stored ``feed:*`` hashes, as the MQTT acceptance
test (``test_simulation_fleet``) does, with the same helpers.
"""

from __future__ import annotations

import datetime as dt

import pytest

from databus import keys
from realtime_engine.models import PositionRecord
from realtime_engine.tests.lifecycle_support import (
    FeedSightings,
    demo_feed_at_peak,
    simulated_runs,
    simulator_start,
    simulator_watch,
    transitions_of,
)
from runs.domain.lifecycle.events import RunEvent
from runs.domain.lifecycle.states import RunState
from runs.models import RunLifecycleTransition
from schedule_engine.testing import import_feed
from tests.support.processes import wait_for

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

VEHICLES = 2
SPEEDUP = 60
GROUP = "databus"
# The loop ends as soon as every expectation is met; this bounds a slow, loaded machine.
WATCH_S = 120.0
LIFECYCLE = (RunState.TRACKING, RunState.IN_PROGRESS, RunState.COMPLETED)


def group_joined(client, stream: str) -> bool:
    """The worker's consumer group exists on ``stream`` (it creates both at start)."""
    if not client.exists(stream):
        return False
    return any(group["name"] == GROUP for group in client.xinfo_groups(stream))


def states_entered(run) -> list[str]:
    rows = RunLifecycleTransition.objects.filter(run=run, accepted=True)
    return list(rows.values_list("to_state", flat=True))


def test_runs_tracked_from_streams_telemetry_complete_and_appear_in_both_feeds(
    process_env, celery_worker_factory, redis_client, tmp_path
):
    import_feed(demo_feed_at_peak(tmp_path / "gtfs", dt.datetime.now(dt.UTC)))
    stream = f"{process_env['MQTT_TOPIC_ROOT']}:avl"
    env = {
        **process_env,
        "MQTT_CONSUMER_ENABLED": "false",
        "MQTT_URL": "mqtt://127.0.0.1:1",  # nothing listens: telemetry has one way in
        "STREAMS_CONSUMER_ENABLED": "true",
        "STREAMS_KEYS": stream,
        "STREAMS_GROUP": GROUP,
        "FEED_BUILD_INTERVAL_S": "1",
        "RUN_SCAN_INTERVAL_S": "1",
        # Timestamps are wall seconds and speeds are reported k times faster: in the
        # compressed clock the fastest plausible bus is k times faster too.
        "PROGRESSION_MAX_SPEED_MPS": str(30 * SPEEDUP),
    }
    worker = celery_worker_factory(env, beat=True)
    try:
        wait_for(lambda: group_joined(redis_client, stream), 60, "the consumer group")
    except TimeoutError:
        print(worker.log()[-10_000:])
        raise
    log_path = tmp_path / "simulator.log"
    with log_path.open("wb") as log:
        simulator = simulator_start(
            env,
            log,
            *("--vehicles", str(VEHICLES), "--speedup", str(SPEEDUP), "--ingress", "streams"),
        )

    def done(seen: FeedSightings) -> bool:
        completed = simulated_runs().filter(run_lifecycle_state=RunState.COMPLETED)
        return completed.exists() and bool(seen.vehicle_positions and seen.trip_updates)

    seen = simulator_watch(simulator, worker, log_path, redis_client, until=done, timeout_s=WATCH_S)
    output = log_path.read_text()
    assert f"stream {stream!r}" in output and "Traceback" not in output, output[-3000:]

    # A run went Tracking → In Progress → Completed through the real detectors, fed by the
    # stream alone.
    completed = list(simulated_runs().filter(run_lifecycle_state=RunState.COMPLETED))
    assert completed, output[-3000:]
    for run in completed:
        entered = [state for state in states_entered(run) if state in LIFECYCLE]
        assert entered == list(LIFECYCLE), states_entered(run)
        events = transitions_of(run)
        assert (RunEvent.RUN_TRACKING_STARTED, "system", "") in events
        assert events[-1] == (RunEvent.RUN_COMPLETED, "system", "")
        assert PositionRecord.objects.filter(vehicle_id=run.vehicle_id).exists()

    # Both feeds carried runs while they were In Progress.
    assert seen.vehicle_positions, "no In Progress run seen in VehiclePositions"
    assert seen.trip_updates, "no In Progress run seen in TripUpdates"

    # Every record was a known tracker's valid fix: nothing dead-lettered.
    assert redis_client.xlen(keys.TELEMETRY_DLQ) == 0, redis_client.xrange(keys.TELEMETRY_DLQ)
    assert "Traceback" not in worker.log()
