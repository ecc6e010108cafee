"""`make bench-feeds`: publishing both GTFS-RT feeds for 5,000 in-progress runs, Redis included.

Starts a private ``redis-server`` (nothing shared is touched), writes a synthetic
fleet through the telemetry contracts as the producers would (5,000 vehicles, each
on an in-progress run with a trip, stop status, congestion, occupancy and 20 stop
time updates; 50 cancelled runs; 200 vehicles without a run), then times
``schedule_engine.feeds.tasks.feeds_publish`` end to end (hot-state read, snapshot
assembly, both builds, serialisation, store) and each stage on its own.
"""

from __future__ import annotations

import os
import statistics
import time
from dataclasses import dataclass

RUNS = 5_000
CANCELED = 50
VEHICLES_WITHOUT_RUN = 200
STOP_UPDATES = 20
REPEATS = 7


def write_fleet(client, now: int) -> None:
    from databus import keys
    from runs.domain.telemetry import (
        congestion_level,
        occupancy,
        position,
        stop_time_updates,
        trip,
        vehicle_stop_status,
    )

    pipe = client.pipeline(transaction=False)
    for i in range(RUNS + VEHICLES_WITHOUT_RUN):
        vid = f"v{i}"
        pipe.hset(
            keys.vehicle_position(vid),
            mapping=position.validate_for_write(
                position.Position(vid, 38.9 + i * 1e-5, -77.0, now - 5, now - 4.5, 90.0, 8.0)
            ),
        )
        if i >= RUNS:
            continue
        rid = str(100_000 + i)
        pipe.hset(
            keys.vehicle_occupancy(vid),
            mapping=occupancy.validate_for_write(
                occupancy.Occupancy(vid, now - 5, now - 4.5, percentage=15)
            ),
        )
        pipe.hset(
            keys.vehicle_metadata(vid),
            mapping={"id": vid, "label": str(i), "license_plate": "", "wheelchair_accessible": "1"},
        )
        pipe.set(keys.vehicle_current_run(vid), rid)
        pipe.hset(keys.run(rid), mapping={"run_id": rid, "vehicle_id": vid})
        pipe.hset(
            keys.run_trip(rid),
            mapping=trip.validate_for_write(
                trip.TripDescriptor(f"trip-{i}", "D96", i % 2, "10:30:00", "20261122")
            ),
        )
        pipe.hset(
            keys.run_vehicle_stop_status(rid),
            mapping=vehicle_stop_status.validate_for_write(
                vehicle_stop_status.VehicleStopStatus(
                    vehicle_stop_status.StopStatusCode.IN_TRANSIT_TO, now - 5, 10, "7752"
                )
            ),
        )
        pipe.hset(
            keys.run_congestion_level(rid),
            mapping=congestion_level.validate_for_write(
                congestion_level.CongestionLevel(
                    congestion_level.CongestionLevelCode.RUNNING_SMOOTHLY, now - 5
                )
            ),
        )
        updates = tuple(
            stop_time_updates.StopTimeUpdate(
                2 + k, f"S{k}", now + 60 * k, now + 60 * k + 10, 30 + 5 * k
            )
            for k in range(STOP_UPDATES)
        )
        pipe.hset(
            keys.run_stop_time_updates(rid),
            mapping=stop_time_updates.validate_for_write(
                stop_time_updates.StopTimeUpdates(now - 5, updates)
            ),
        )
        pipe.sadd(keys.RUNS_TRACKING, rid)
        pipe.sadd(keys.RUNS_IN_PROGRESS, rid)
        if i < CANCELED:
            # Cancelled runs have their own ids and trips, as a cancelled run is not running.
            cid = str(900_000 + i)
            pipe.hset(
                keys.run_trip(cid),
                mapping=trip.validate_for_write(
                    trip.TripDescriptor(f"canceled-{i}", "D96", 0, "12:00:00", "20261122")
                ),
            )
            pipe.zadd(keys.RUNS_CANCELED, {cid: now + 86_400})
        if len(pipe) > 5_000:
            pipe.execute()
    pipe.execute()


@dataclass(frozen=True)
class Timing:
    median_s: float  # wall clock, median of the repeats
    best_s: float  # wall clock, the fastest repeat (least disturbed by other load)
    cpu_s: float  # this process's CPU time, median (excludes waiting on Redis)

    def __str__(self) -> str:
        return f"median {self.median_s:.3f} s, best {self.best_s:.3f} s, CPU {self.cpu_s:.3f} s"


def timed(function, repeats: int = REPEATS) -> tuple[Timing, object]:
    walls, cpus, result = [], [], None
    for _ in range(repeats):
        began, began_cpu = time.perf_counter(), time.process_time()
        result = function()
        walls.append(time.perf_counter() - began)
        cpus.append(time.process_time() - began_cpu)
    return Timing(statistics.median(walls), min(walls), statistics.median(cpus)), result


def redis_server_cpu_s(client) -> float:
    cpu = client.info("cpu")
    return cpu["used_cpu_user"] + cpu["used_cpu_sys"]


def measure() -> None:
    from django.conf import settings

    from databus.redis import get_redis
    from schedule_engine.feeds.builders import build_trip_updates, build_vehicle_positions
    from schedule_engine.feeds.feed_inputs import feed_inputs_assemble
    from schedule_engine.feeds.store import FeedName, feed_get
    from schedule_engine.feeds.tasks import cyclic_gc_paused, feeds_publish
    from schedule_engine.hot_state_read import fleet_read

    client = get_redis()
    now = int(time.time())
    write_fleet(client, now)
    print(
        f"hot state: {client.dbsize()} keys, {RUNS} in-progress runs x {STOP_UPDATES} stop "
        f"updates, {CANCELED} cancelled, {VEHICLES_WITHOUT_RUN} vehicles without a run"
    )

    publish, _ = timed(lambda: feeds_publish(client, now=now))
    with cyclic_gc_paused():  # the stages as feeds_publish runs them
        server_cpu_before = redis_server_cpu_s(client)
        read, hot = timed(lambda: fleet_read(client, now=now))
        read_server_cpu = (redis_server_cpu_s(client) - server_cpu_before) / REPEATS
        assemble, inputs = timed(
            lambda: feed_inputs_assemble(
                hot,
                now=now,
                vehicle_max_age_s=settings.FEED_VEHICLE_MAX_AGE_S,
                stop_time_update_max_age_s=settings.FEED_STOP_TIME_UPDATE_MAX_AGE_S,
            )
        )
        vp, _ = timed(lambda: build_vehicle_positions(inputs.vehicles, now=now).SerializeToString())
        tu, _ = timed(lambda: build_trip_updates(inputs.trips, now=now).SerializeToString())
    sizes = {name: len(feed_get(client, name).payload) for name in FeedName}

    print(f"{REPEATS} repeats each (load average {os.getloadavg()[0]:.1f}):")
    print(f"  feeds_publish, end to end:           {publish}")
    print(f"    hot-state read (SCAN + pipelines): {read}")
    print(f"      Redis server CPU per read:       {read_server_cpu:.3f} s")
    print(f"    snapshot assembly (contracts):     {assemble}")
    print(
        f"    VehiclePositions build+serialise:  {vp} "
        f"({len(inputs.vehicles)} entities, {sizes[FeedName.VEHICLE_POSITIONS] / 1e6:.2f} MB)"
    )
    print(
        f"    TripUpdates build+serialise:       {tu} "
        f"({len(inputs.trips)} entities, {sizes[FeedName.TRIP_UPDATES] / 1e6:.2f} MB)"
    )


def main() -> None:
    from benchmarks.scratch_redis import scratch_redis

    with scratch_redis():
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "backend.settings")
        import django

        django.setup()
        measure()


if __name__ == "__main__":
    main()
