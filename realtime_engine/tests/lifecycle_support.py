"""What the fleet lifecycle acceptance tests share, whichever ingress the telemetry takes.

``test_simulation_fleet`` (MQTT) and ``test_streams_lifecycle`` (Redis Streams) run the
real ``manage.py simulate`` against a real worker with beat on the demo network pinned
to its morning peak, and watch the runs and the stored feeds.
"""

from __future__ import annotations

import datetime as dt
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from google.transit import gtfs_realtime_pb2

from runs.domain.lifecycle.states import RunState
from runs.models import Run, RunLifecycleTransition
from schedule_engine.demo_network.clock import demo_network_copy, zone_at_local_hour
from schedule_engine.feeds.store import FeedName, feed_get

ROOT = Path(__file__).resolve().parents[2]
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


@dataclass
class FeedSightings:
    """The trips of simulated runs seen In Progress in each stored feed so far."""

    vehicle_positions: set[str] = field(default_factory=set)
    trip_updates: set[str] = field(default_factory=set)

    def look(self, client) -> None:
        in_progress = set(
            simulated_runs()
            .filter(run_lifecycle_state=RunState.IN_PROGRESS)
            .values_list("trip_id", flat=True)
        )
        self.vehicle_positions |= in_progress & feed_trip_ids(client, FeedName.VEHICLE_POSITIONS)
        self.trip_updates |= in_progress & feed_trip_ids(client, FeedName.TRIP_UPDATES)


def simulator_start(env: dict[str, str], log: IO[bytes], *args: str) -> subprocess.Popen:
    """``manage.py simulate *args`` as its own process, output to ``log``."""
    return subprocess.Popen(
        [sys.executable, "manage.py", "simulate", *args],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )


def simulator_watch(
    simulator: subprocess.Popen,
    worker,
    log_path: Path,
    client,
    *,
    until: Callable[[FeedSightings], bool],
    timeout_s: float,
) -> FeedSightings:
    """Look at the feeds until ``until(seen)`` holds or ``timeout_s`` passes, then stop the
    simulator with SIGTERM: it must still be running and exit cleanly. On any failure the
    simulator's and the worker's logs are printed."""
    seen = FeedSightings()
    try:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            seen.look(client)
            if until(seen):
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
    return seen
