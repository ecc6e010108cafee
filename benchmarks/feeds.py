"""`make bench-feeds`: publishing both GTFS-RT feeds for 5,000 and 50,000 runs, Redis included.

Starts a private ``redis-server`` (nothing shared is touched), writes a synthetic
fleet through the telemetry contracts as the producers would (N vehicles, each on an
in-progress run with a trip, stop status, congestion, occupancy and 20 stop time
updates; 50 cancelled runs; 200 vehicles without a run), then times
``schedule_engine.feeds.tasks.feeds_publish`` end to end (marks, hot-state read,
assembly, encoding, entity caches, payloads, store) for a full rebuild and for
incremental builds after the marks the writers would leave: every vehicle reported
(1 Hz fixes, a 15 s build) with all runs' predictions rewritten, or a tenth of them,
and nothing at all; then what one prediction-log sample of the served TripUpdates costs
(parse and COPY into a scratch database, ``benchmarks.scratch_db``); then the stages on
their own. Full builds run split (``FEED_BUILD_PROCESSES``, at least two processes) and,
paired with those, in one; the other builds run with that split too, as production's
feed-builder does. No GTFS version is imported,
so the schedule agreement passes everything (as it does before a first import).
"""

from __future__ import annotations

import os
import statistics
import time
from dataclasses import dataclass

# (runs, repeats): a large city's fleet and a national aggregate's.
FLEETS = ((5_000, 5), (50_000, 2))
TARGETS_S = {5_000: 0.5, 50_000: 5.0}
CANCELED = 50
VEHICLES_WITHOUT_RUN = 200
STOP_UPDATES = 20
REPEATS = 5


def write_fleet(client, now: int, runs: int) -> None:
    from databus import keys
    from runs.domain.lifecycle.states import RunState
    from runs.domain.telemetry import (
        congestion_level,
        occupancy,
        position,
        stop_time_updates,
        trip,
        vehicle_stop_status,
    )

    pipe = client.pipeline(transaction=False)
    for i in range(runs + VEHICLES_WITHOUT_RUN):
        vid = f"v{i}"
        pipe.hset(
            keys.vehicle_position(vid),
            mapping=position.validate_for_write(
                position.Position(vid, 38.9 + i * 1e-5, -77.0, now - 5, now - 4.5, 90.0, 8.0)
            ),
        )
        if i >= runs:
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
        descriptor = trip.TripDescriptor(f"trip-{i}", "D96", i % 2, "10:30:00", "20261122")
        pipe.hset(
            keys.run(rid), mapping=_projection(rid, vid, descriptor, RunState.IN_PROGRESS, now)
        )
        pipe.hset(keys.run_trip(rid), mapping=trip.validate_for_write(descriptor))
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
            cancelled = trip.TripDescriptor(f"canceled-{i}", "D96", 0, "12:00:00", "20261122")
            pipe.hset(
                keys.run(cid),
                mapping=_projection(cid, f"c{i}", cancelled, RunState.CANCELLED, now - 600),
            )
            pipe.hset(keys.run_trip(cid), mapping=trip.validate_for_write(cancelled))
            pipe.zadd(keys.RUNS_CANCELED, {cid: now + 86_400})
        if len(pipe) > 5_000:
            pipe.execute()
    pipe.execute()


def _projection(run_id: str, vehicle_id: str, descriptor, state, last_event_at: float):
    """``run:{rid}`` as the lifecycle writes it: every field of the projection."""
    from runs.domain.projections import run as run_projection

    return run_projection.validate_for_write(
        run_projection.RunProjection(
            run_id=run_id,
            vehicle_id=vehicle_id,
            state=state,
            trip_id=descriptor.trip_id,
            route_id=descriptor.route_id,
            operator_id="op-1",
            shape_id="shape-1",
            direction_id=descriptor.direction_id,
            start_date=descriptor.start_date,
            start_time=descriptor.start_time,
            last_event_at=last_event_at,
        )
    )


@dataclass(frozen=True)
class Timing:
    median_s: float  # wall clock, median of the repeats
    best_s: float  # wall clock, the fastest repeat (least disturbed by other load)
    cpu_s: float  # this process's CPU time, median (not Redis', nor a forked shard's)

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


def mark(client, *, vehicles: int, runs: int) -> None:
    """The marks the writers would have left since the last build: the first ``vehicles``
    vehicles reported, the first ``runs`` runs had their predictions rewritten."""
    from databus import keys

    pipe = client.pipeline(transaction=False)
    ids = [f"v{i}" for i in range(vehicles)]
    for start in range(0, len(ids), 10_000):
        pipe.sadd(keys.FEED_DIRTY_VEHICLES, *ids[start : start + 10_000])
    rids = [str(100_000 + i) for i in range(runs)]
    for start in range(0, len(rids), 10_000):
        pipe.sadd(keys.FEED_DIRTY_RUNS, *rids[start : start + 10_000])
    pipe.execute()


def timed_each(function, before, repeats: int) -> Timing:
    """``function`` timed after ``before`` (untimed) on every repeat."""
    walls, cpus = [], []
    for _ in range(repeats):
        before()
        began, began_cpu = time.perf_counter(), time.process_time()
        function()
        walls.append(time.perf_counter() - began)
        cpus.append(time.process_time() - began_cpu)
    return Timing(statistics.median(walls), min(walls), statistics.median(cpus))


def timed_alternately(function, before, settings, processes, repeats: int):
    """``function`` timed with ``FEED_BUILD_PROCESSES`` set to each of ``processes`` in
    turn, the order swapped every repeat, after ``before`` (untimed); a Timing for each."""
    walls: dict[int, list[float]] = {count: [] for count in processes}
    cpus: dict[int, list[float]] = {count: [] for count in processes}
    configured = settings.FEED_BUILD_PROCESSES
    try:
        for repeat in range(repeats):
            for count in processes if repeat % 2 == 0 else processes[::-1]:
                settings.FEED_BUILD_PROCESSES = count
                before()
                began, began_cpu = time.perf_counter(), time.process_time()
                function()
                walls[count].append(time.perf_counter() - began)
                cpus[count].append(time.process_time() - began_cpu)
    finally:
        settings.FEED_BUILD_PROCESSES = configured
    return tuple(
        Timing(statistics.median(walls[c]), min(walls[c]), statistics.median(cpus[c]))
        for c in processes
    )


def measure(runs: int, repeats: int, *, stages: bool) -> dict[str, Timing]:
    from django.conf import settings

    from databus import keys
    from schedule_engine.feeds.builders import build_trip_updates, build_vehicle_positions
    from schedule_engine.feeds.changes import changed_records_read, marks_take
    from schedule_engine.feeds.entity_cache import cache_read
    from schedule_engine.feeds.feed_inputs import feed_inputs_assemble
    from schedule_engine.feeds.mirror import mirror_forget
    from schedule_engine.feeds.store import HOT_STATE_FEEDS, FeedName, feed_get
    from schedule_engine.feeds.tasks import cyclic_gc_paused, feeds_publish
    from schedule_engine.hot_state_read import fleet_read

    client = get_client()
    client.flushdb()
    now = int(time.time())
    write_fleet(client, now, runs)
    vehicles = runs + VEHICLES_WITHOUT_RUN
    print(
        f"\n{runs} in-progress runs x {STOP_UPDATES} stop updates, {CANCELED} cancelled, "
        f"{VEHICLES_WITHOUT_RUN} vehicles without a run ({client.dbsize()} keys); "
        f"{repeats} repeats each, load average {os.getloadavg()[0]:.1f}"
    )
    publish = lambda: feeds_publish(client, now=now)  # noqa: E731
    # Split in at least two processes (the default is one), paired with one.
    processes = max(2, settings.FEED_BUILD_PROCESSES)
    results = {}
    if processes > 1:
        # Paired, in alternating order: this machine drifts by a fifth within minutes.
        split, single = timed_alternately(
            publish,
            lambda: client.delete(keys.FEED_CACHE_META),
            settings,
            (processes, 1),
            max(repeats, 3),
        )
        results[f"full rebuild ({processes} processes, paired)"] = split
        results["full rebuild (1 process, paired)"] = single
    else:
        results["full rebuild"] = timed_each(
            publish, lambda: client.delete(keys.FEED_CACHE_META), repeats
        )
    # The rest as compose.prod.yml's feed-builder runs them: a whole build split in two.
    configured, settings.FEED_BUILD_PROCESSES = settings.FEED_BUILD_PROCESSES, processes
    publish()  # the caches the incremental builds start from
    for label, share in (
        (f"all runs changed (built whole, {processes} processes)", 1.0),
        ("10 % of runs changed", 0.1),
    ):
        results[f"incremental, every vehicle reported, {label}"] = timed_each(
            publish, lambda s=share: mark(client, vehicles=vehicles, runs=int(runs * s)), repeats
        )
    results["incremental, 10 %, caches read back (last build elsewhere)"] = timed_each(
        publish,
        lambda: (mark(client, vehicles=vehicles, runs=runs // 10), mirror_forget()),
        repeats,
    )
    results["incremental, nothing changed"] = timed_each(publish, lambda: None, repeats)
    settings.FEED_BUILD_PROCESSES = configured
    sizes = {name: len(feed_get(client, name).payload) / 1e6 for name in HOT_STATE_FEEDS}
    for label, timing in results.items():
        print(f"  feeds_publish, {label + ':':<62} {timing}")
    print(
        f"  payloads: VehiclePositions {sizes[FeedName.VEHICLE_POSITIONS]:.2f} MB, "
        f"TripUpdates {sizes[FeedName.TRIP_UPDATES]:.2f} MB"
    )
    print(f"  prediction log, one sample of the served TripUpdates:          {log_sample(client)}")
    if not stages:
        return results
    with cyclic_gc_paused():  # the stages as feeds_publish runs them
        server_cpu_before = redis_server_cpu_s(client)
        read, hot = timed(lambda: fleet_read(client, now=now), repeats)
        read_server_cpu = (redis_server_cpu_s(client) - server_cpu_before) / repeats

        def changed_read():
            mark(client, vehicles=vehicles, runs=runs // 10)
            marks = marks_take(client, now=now)
            cached = cache_read(client)
            changed_records_read(
                client, marks, published_vehicles=cached[FeedName.VEHICLE_POSITIONS].keys()
            )

        changed, _ = timed(changed_read, repeats)
        assemble, inputs = timed(
            lambda: feed_inputs_assemble(
                hot,
                now=now,
                vehicle_max_age_s=settings.FEED_VEHICLE_MAX_AGE_S,
                stop_time_update_max_age_s=settings.FEED_STOP_TIME_UPDATE_MAX_AGE_S,
            ),
            repeats,
        )
        vp, _ = timed(
            lambda: build_vehicle_positions(inputs.vehicles, now=now).SerializeToString(), repeats
        )
        tu, _ = timed(
            lambda: build_trip_updates(inputs.trips, now=now).SerializeToString(), repeats
        )
    print("  stages:")
    print(f"    whole hot-state read (located set + hashes):      {read}")
    print(f"      Redis server CPU per read:                      {read_server_cpu:.3f} s")
    print(f"    marks + caches + what 10 % reach (read only):     {changed}")
    print(f"    snapshot assembly, every entity (contracts):      {assemble}")
    print(f"    VehiclePositions built whole + serialised:        {vp}")
    print(f"    TripUpdates built whole + serialised:             {tu}")
    return results


class _RolledBack(Exception):
    pass


def log_sample(client) -> str:
    """What the prediction log costs per sample of this feed (``reports.prediction_log``):
    parsing the served bytes into rows, and their COPY (rolled back)."""
    from django.conf import settings
    from django.db import transaction

    from reports.prediction_log.sample import sample_of
    from reports.prediction_log.storage import sample_store
    from schedule_engine.feeds.store import FeedName, feed_get

    payload = feed_get(client, FeedName.TRIP_UPDATES).payload
    started = time.perf_counter()
    sample = sample_of(payload, max_horizon_s=settings.PREDICTION_LOG_MAX_HORIZON_S)
    parsed = time.perf_counter()
    try:
        with transaction.atomic():
            sample_store(sample)
            stored = time.perf_counter()
            raise _RolledBack
    except _RolledBack:
        pass
    return (
        f"{len(sample.rows):,} rows, parse {(parsed - started) * 1000:.0f} ms, "
        f"COPY {(stored - parsed) * 1000:.0f} ms"
    )


def get_client():
    from databus.redis import get_redis

    return get_redis()


def main() -> None:
    from benchmarks.scratch_redis import scratch_redis

    with scratch_redis():
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "backend.settings")
        import django

        django.setup()
        from benchmarks.scratch_db import drop_database, scratch_database

        database = scratch_database("feeds")
        try:
            for runs, repeats in FLEETS:
                measure(runs, repeats, stages=runs == FLEETS[0][0])  # stages: the first only
        finally:
            drop_database(database)
        print(
            f"\ntargets (end to end): <= {TARGETS_S[5_000]} s at 5,000 runs, "
            f"<= {TARGETS_S[50_000]} s at 50,000 runs"
        )


if __name__ == "__main__":
    main()
