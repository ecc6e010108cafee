"""Builds that re-encode only what changed publish what a full rebuild publishes.

The hot state is written as the producers write it and marked as they mark it: positions
and occupancies through the ingest's own writer (``HotStateWriter``, whose pipeline
marks the vehicles), a run's published progression and its lifecycle through the
fixture writers plus the marks the matcher's compare-and-set and the lifecycle's
MULTI/EXEC add (``mark_run``), and the dispatchers' trip operations as their service
writes them (``keys.TRIP_OPERATIONS``, no mark: every build reads them). Real Redis
throughout; now and then the process's copy of the caches is dropped, as when the last
build ran in another worker. The reference is today's whole-fleet path (``fleet_read``,
the assembly, the builders building each feed whole); a full rebuild is forced by
dropping the caches' meta, as a Redis that lost its data would.
"""

from __future__ import annotations

import random
import time

import pytest
from google.transit import gtfs_realtime_pb2 as rt

from databus import keys
from databus.metrics import REGISTRY
from realtime_engine.ingest.batch import BatchPlan
from realtime_engine.ingest.hot_state import HotStateWriter
from runs.domain.projections import trip_operations
from runs.domain.projections.trip_operations import (
    AddedStopTime,
    TripOperationKind,
    TripOperationRecord,
)
from runs.domain.telemetry import occupancy, position, stop_time_updates, trip
from runs.tests.fixtures.feed import write_feed
from schedule_engine.feeds import tasks
from schedule_engine.feeds.builders import build_trip_updates, build_vehicle_positions
from schedule_engine.feeds.descriptors import DescriptorPolicy
from schedule_engine.feeds.entity_cache import META_FULL_AT
from schedule_engine.feeds.feed_inputs import feed_inputs_assemble
from schedule_engine.feeds.mirror import mirror_forget
from schedule_engine.feeds.snapshots import HotStateSkip
from schedule_engine.feeds.store import HOT_STATE_FEEDS, FeedName, feed_get
from schedule_engine.feeds.tasks import feeds_publish, operations_for_build
from schedule_engine.feeds.tests.fleet_hot_state import write_progression, write_run
from schedule_engine.hot_state_read import fleet_read
from schedule_engine.testing import import_feed

VEHICLES = 10
RUNS = 7  # run r{i} is vehicle v{i}'s; v7..v9 have no run


def report(client, vehicle_id: str, at: int, *, lat: float = 9.93, percentage=None) -> None:
    """A fix (and an occupancy) as the ingest consumer writes them."""
    plan = BatchPlan(
        latest_positions={
            vehicle_id: position.Position(vehicle_id, lat, -84.08, at, at + 0.5, 90.0, 8.5)
        },
        latest_occupancies=(
            {}
            if percentage is None
            else {vehicle_id: occupancy.Occupancy(vehicle_id, at, at + 0.5, percentage=percentage)}
        ),
    )
    HotStateWriter(client, dlq_maxlen=1000).write(plan)


def mark_run(client, run_id: str, vehicle_id: str | None = None) -> None:
    """The marks a producer adds in its own round trip: the matcher its run, the
    lifecycle its run and that run's vehicle."""
    client.sadd(keys.FEED_DIRTY_RUNS, run_id)
    if vehicle_id is not None:
        client.sadd(keys.FEED_DIRTY_VEHICLES, vehicle_id)


def descriptor(i: int) -> trip.TripDescriptor:
    return trip.TripDescriptor(f"T-{i}", "R1", i % 2, "10:30:00", "20261122")


def start_run(client, i: int, now: int) -> None:
    """What the lifecycle writes when run r{i} starts on v{i} (and marks)."""
    rid, vid = f"r{i}", f"v{i}"
    write_run(client, rid, vid, descriptor(i), state="In Progress", last_event_at=now)
    client.hset(
        keys.vehicle_metadata(vid),
        mapping={"id": vid, "label": f"Bus {i}", "license_plate": "", "wheelchair_accessible": "1"},
    )
    client.set(keys.vehicle_current_run(vid), rid)
    client.set(keys.trip_current_run(descriptor(i).trip_id), rid)
    client.sadd(keys.RUNS_TRACKING, rid)
    client.sadd(keys.RUNS_IN_PROGRESS, rid)
    client.zrem(keys.RUNS_CANCELED, rid)
    mark_run(client, rid, vid)


def finish_run(client, i: int, now: int, *, cancel_for_s: int | None = None) -> None:
    """Completed (or cancelled, published as CANCELED for ``cancel_for_s``)."""
    rid, vid = f"r{i}", f"v{i}"
    client.srem(keys.RUNS_TRACKING, rid)
    client.srem(keys.RUNS_IN_PROGRESS, rid)
    client.delete(keys.vehicle_current_run(vid), keys.trip_current_run(descriptor(i).trip_id))
    if cancel_for_s is not None:
        write_run(client, rid, vid, descriptor(i), state="Cancelled", last_event_at=now)
        client.zadd(keys.RUNS_CANCELED, {rid: now + cancel_for_s})
    mark_run(client, rid, vid)


def progress(client, i: int, at: int) -> None:
    """The matcher publishes r{i}'s stop status, congestion and predictions (and marks)."""
    write_progression(client, f"r{i}", at=at)
    mark_run(client, f"r{i}")


def payloads(client) -> dict[FeedName, bytes]:
    return {name: feed_get(client, name).payload for name in HOT_STATE_FEEDS}


def entities(payload: bytes) -> dict[str, rt.FeedEntity]:
    message = rt.FeedMessage()
    message.ParseFromString(payload)
    return {entity.id: entity for entity in message.entity}


def full_rebuild_payloads(client, now: int) -> dict[FeedName, bytes]:
    client.delete(keys.FEED_CACHE_META)
    feeds_publish(client, now=now)
    return payloads(client)


def last_full_at(client) -> float:
    return float(client.hget(keys.FEED_CACHE_META, META_FULL_AT))


def operation(
    client, rng: random.Random, now: int, kind: TripOperationKind | None = None, i: int = -1
) -> None:
    """A dispatcher starts (or ends) an operation on a trip (T-7 to T-9 have no run), or
    adds one; some start later or have ended (``is_published``)."""
    op_id = str(rng.randrange(6))
    if kind is None and rng.random() < 0.3:
        client.hdel(keys.TRIP_OPERATIONS, op_id)
        return
    i = rng.randrange(VEHICLES) if i < 0 else i
    chosen = kind is None  # a random one: random times
    kind = rng.choice(list(TripOperationKind)) if kind is None else kind
    start = now + rng.choice([-600, -600, 30])
    common = dict(
        operation_id=op_id,
        kind=kind,
        start_date="20261122",
        active_from=start if chosen else now - 600,
        active_until=start + rng.choice([40, 3600]) if chosen else now + 7200,
    )
    if kind is TripOperationKind.ADD:
        record = TripOperationRecord(
            trip_id=f"EXTRA-{op_id}",
            route_id="R1",
            direction_id=0,
            start_time="11:00:00",
            vehicle_id=f"v{i}",
            stop_times=(
                AddedStopTime(1, "S1", now + 60, now + 60),
                AddedStopTime(2, "S4", now + 600, now + 610),
            ),
            **common,
        )
    elif kind is TripOperationKind.CANCEL:
        record = TripOperationRecord(trip_id=descriptor(i).trip_id, route_id="R1", **common)
    else:
        record = TripOperationRecord(
            trip_id=descriptor(i).trip_id,
            skipped_stop_sequences=tuple(sorted(rng.sample([3, 4, 5], rng.randrange(1, 3)))),
            **common,
        )
    client.hset(keys.TRIP_OPERATIONS, op_id, trip_operations.encode(record))


def random_change(client, rng: random.Random, now: int) -> None:
    i = rng.randrange(VEHICLES)
    kind = rng.random()
    if kind < 0.2:
        operation(client, rng, now)
        return
    if kind < 0.45:
        # Most fixes are a few seconds old; some come from a clock ahead of ours.
        at = now + 20 if rng.random() < 0.1 else now - rng.randrange(15)
        report(client, f"v{i}", at, lat=9.9 + rng.random() / 10, percentage=rng.choice([None, 40]))
    elif i >= RUNS:
        return
    elif kind < 0.75:
        # Predictions now and then older than FEED_STOP_TIME_UPDATE_MAX_AGE_S (120 s).
        progress(client, i, now - rng.choice([0, 5, 200]))
    elif kind < 0.85:
        start_run(client, i, now)
    elif kind < 0.95:
        finish_run(client, i, now)
    else:
        finish_run(client, i, now, cancel_for_s=rng.randrange(30, 120))


def reference_entities(client, now: int, settings) -> dict[FeedName, dict[str, rt.FeedEntity]]:
    """What today's whole-fleet path publishes: every record read (the operations too),
    both feeds built whole by the builders (the caches untouched)."""
    descriptors = DescriptorPolicy(
        settings.FEED_PUBLISH_VEHICLE_LABEL, settings.FEED_PUBLISH_LICENSE_PLATE
    )
    operations = operations_for_build(
        client, client.hgetall(keys.TRIP_OPERATIONS), now=now, descriptors=descriptors
    )
    inputs = feed_inputs_assemble(
        fleet_read(client, now=now),
        now=now,
        vehicle_max_age_s=settings.FEED_VEHICLE_MAX_AGE_S,
        stop_time_update_max_age_s=settings.FEED_STOP_TIME_UPDATE_MAX_AGE_S,
        operations=operations,
        descriptors=descriptors,
    )
    return {
        FeedName.VEHICLE_POSITIONS: entities(
            build_vehicle_positions(inputs.vehicles, now=now).SerializeToString()
        ),
        FeedName.TRIP_UPDATES: entities(
            build_trip_updates(inputs.trips + inputs.operations, now=now).SerializeToString()
        ),
    }


def operation_kinds(trip_updates: dict[str, rt.FeedEntity]) -> set[str]:
    """Which kinds of operation the TripUpdates show."""
    kinds = {eid.split("-")[0] for eid in trip_updates if "-" in eid}
    skipped = rt.TripUpdate.StopTimeUpdate.SKIPPED
    if any(
        u.schedule_relationship == skipped
        for eid, entity in trip_updates.items()
        if "-" not in eid
        for u in entity.trip_update.stop_time_update
    ):
        kinds.add("skipped in a run")
    return kinds


SKIP, CANCEL, ADD = TripOperationKind.SKIP_STOPS, TripOperationKind.CANCEL, TripOperationKind.ADD


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_after_random_changes_incremental_builds_publish_what_the_whole_fleet_path_does(
    db, redis_client, settings, seed
):
    settings.FEED_FULL_REBUILD_INTERVAL_S = 86_400  # every build below is incremental
    rng = random.Random(seed)
    now = int(time.time())
    for i in range(RUNS):
        start_run(redis_client, i, now)
    feeds_publish(redis_client, now=now)
    first = now
    seen: set[str] = set()

    # Each kind at least once, on a trip without a run and one with (if it still runs).
    forced = {1: (SKIP, 1), 8: (CANCEL, 8), 16: (ADD, 2), 24: (SKIP, 9), 32: (SKIP, 3)}
    for step in range(40):
        if step + 1 in forced and forced[step + 1][1] < RUNS:
            start_run(redis_client, forced[step + 1][1], now)  # fresh for the next build:
            progress(redis_client, forced[step + 1][1], now)  # which sees only the operation
        if step in forced:
            operation(redis_client, rng, now, *forced[step])  # alone: its run is not marked
        else:
            for _ in range(rng.randrange(1, 6)):
                random_change(redis_client, rng, now)
        now += rng.randrange(0, 60)  # vehicles and predictions age out, cancellations end
        if rng.random() < 0.3:
            mirror_forget()  # the last build ran in another worker: the caches are read
        feeds_publish(redis_client, now=now)

        published = {name: entities(payload) for name, payload in payloads(redis_client).items()}
        assert published == reference_entities(redis_client, now, settings), now
        seen |= operation_kinds(published[FeedName.TRIP_UPDATES])
    assert last_full_at(redis_client) == first
    assert seen == {"cancel", "add", "skip", "skipped in a run"}  # every kind was exercised
    incremental = payloads(redis_client)
    assert full_rebuild_payloads(redis_client, now) == incremental  # same bytes: same ETag


def test_a_vehicle_whose_position_ages_out_leaves_without_a_mark(db, redis_client, settings):
    settings.FEED_FULL_REBUILD_INTERVAL_S = 3600
    now = int(time.time())
    report(redis_client, "v1", now - 5)
    report(redis_client, "v2", now - 5)
    feeds_publish(redis_client, now=now)
    report(redis_client, "v2", now + 300)

    later = now + settings.FEED_VEHICLE_MAX_AGE_S  # v1's fix is now older than the bound
    feeds_publish(redis_client, now=later)

    assert last_full_at(redis_client) == now  # an incremental build
    assert set(entities(payloads(redis_client)[FeedName.VEHICLE_POSITIONS])) == {"v2"}


def test_a_cancelled_trip_leaves_when_its_publication_ends(db, redis_client):
    now = int(time.time())
    start_run(redis_client, 1, now)
    finish_run(redis_client, 1, now, cancel_for_s=60)
    feeds_publish(redis_client, now=now)
    trips = entities(payloads(redis_client)[FeedName.TRIP_UPDATES])
    assert trips["r1"].trip_update.trip.schedule_relationship == rt.TripDescriptor.CANCELED

    feeds_publish(redis_client, now=now + 61)

    assert last_full_at(redis_client) == now
    assert entities(payloads(redis_client)[FeedName.TRIP_UPDATES]) == {}


def test_a_run_that_completes_leaves_trip_updates_and_its_vehicle_its_trip(db, redis_client):
    now = int(time.time())
    start_run(redis_client, 1, now)
    progress(redis_client, 1, now)
    report(redis_client, "v1", now)
    feeds_publish(redis_client, now=now)
    assert set(entities(payloads(redis_client)[FeedName.TRIP_UPDATES])) == {"r1"}

    finish_run(redis_client, 1, now + 10)
    feeds_publish(redis_client, now=now + 15)

    assert last_full_at(redis_client) == now
    published = payloads(redis_client)
    assert entities(published[FeedName.TRIP_UPDATES]) == {}
    assert not entities(published[FeedName.VEHICLE_POSITIONS])["v1"].vehicle.HasField("trip")


def skipped(reason: HotStateSkip) -> float:
    labels = {"feed": "trip_updates", "reason": reason.value}
    return REGISTRY.get_sample_value("databus_feed_entities_skipped_total", labels) or 0.0


def test_a_bad_record_is_skipped_and_counted_on_every_build_while_the_rest_is_published(
    db, redis_client
):
    now = int(time.time())
    for i in (1, 2):
        start_run(redis_client, i, now)
        progress(redis_client, i, now)
    feeds_publish(redis_client, now=now)
    before = skipped(HotStateSkip.BAD_STOP_TIME_UPDATES)

    redis_client.hset(keys.run_stop_time_updates("r2"), stop_time_updates.UPDATES, "[oops")
    mark_run(redis_client, "r2")
    feeds_publish(redis_client, now=now + 15)
    feeds_publish(redis_client, now=now + 30)  # no new mark: still counted

    assert last_full_at(redis_client) == now
    assert skipped(HotStateSkip.BAD_STOP_TIME_UPDATES) - before == 2
    assert set(entities(payloads(redis_client)[FeedName.TRIP_UPDATES])) == {"r1"}


def test_after_redis_lost_its_data_the_feeds_are_rebuilt_whole_with_the_same_content(
    db, redis_client
):
    now = int(time.time())

    def write_state():
        for i in range(RUNS):
            start_run(redis_client, i, now)
            progress(redis_client, i, now - 3)
        for i in range(VEHICLES):
            report(redis_client, f"v{i}", now - 2, percentage=20)

    write_state()
    feeds_publish(redis_client, now=now)
    before = payloads(redis_client)
    redis_client.flushdb()
    write_state()  # as the hot-state rebuild and the next fixes bring it back
    redis_client.delete(keys.FEED_DIRTY_RUNS, keys.FEED_DIRTY_VEHICLES)

    feeds_publish(redis_client, now=now)

    assert payloads(redis_client) == before


def unmarked_label_change(client, vehicle_id: str, label: str) -> None:
    """A write without its mark: only a full rebuild sees it."""
    client.hset(keys.vehicle_metadata(vehicle_id), "label", label)


def labels(client) -> dict[str, str]:
    vehicles = entities(payloads(client)[FeedName.VEHICLE_POSITIONS])
    return {vid: entity.vehicle.vehicle.label for vid, entity in vehicles.items()}


def test_a_new_hot_state_epoch_or_the_interval_rebuilds_whole(db, redis_client, settings):
    settings.FEED_FULL_REBUILD_INTERVAL_S = 60  # (shorter than the vehicle's max age)
    now = int(time.time())
    start_run(redis_client, 1, now)
    report(redis_client, "v1", now - 1)  # (a fix at ``now`` would be decided again)
    feeds_publish(redis_client, now=now)
    unmarked_label_change(redis_client, "v1", "renamed")

    feeds_publish(redis_client, now=now + 15)
    assert labels(redis_client) == {"v1": "Bus 1"}  # incremental: nothing marked

    redis_client.set(keys.HOT_STATE_EPOCH, str(now + 20))  # a rebuild from PostgreSQL
    feeds_publish(redis_client, now=now + 30)
    assert labels(redis_client) == {"v1": "renamed"}

    unmarked_label_change(redis_client, "v1", "again")
    feeds_publish(redis_client, now=now + 30 + settings.FEED_FULL_REBUILD_INTERVAL_S)
    assert labels(redis_client) == {"v1": "again"}


def test_another_gtfs_version_rebuilds_whole(db, redis_client, tmp_path):
    now = int(time.time())
    report(redis_client, "v1", now - 1)
    unmarked_label_change(redis_client, "v1", "Bus 1")
    import_feed(write_feed(tmp_path / "autumn"), name="autumn")
    feeds_publish(redis_client, now=now)
    unmarked_label_change(redis_client, "v1", "renamed")
    feeds_publish(redis_client, now=now + 15)
    assert labels(redis_client) == {"v1": "Bus 1"}

    import_feed(write_feed(tmp_path / "winter", {"T1": 7 * 60, "T2": 9 * 60}), name="winter")
    feeds_publish(redis_client, now=now + 30)

    assert labels(redis_client) == {"v1": "renamed"}


def test_the_marks_a_build_took_before_it_died_are_taken_by_the_next(db, redis_client, monkeypatch):
    now = int(time.time())
    report(redis_client, "v1", now - 10, lat=9.93)
    feeds_publish(redis_client, now=now)
    report(redis_client, "v1", now - 1, lat=9.95)

    def dies(*args, **kwargs):
        raise RuntimeError("worker lost")

    monkeypatch.setattr(tasks, "feed_inputs_assemble", dies)
    with pytest.raises(RuntimeError):
        feeds_publish(redis_client, now=now + 15)
    monkeypatch.undo()
    feeds_publish(redis_client, now=now + 30)

    assert last_full_at(redis_client) == now
    vehicle = entities(payloads(redis_client)[FeedName.VEHICLE_POSITIONS])["v1"].vehicle
    assert vehicle.position.latitude == pytest.approx(9.95)
