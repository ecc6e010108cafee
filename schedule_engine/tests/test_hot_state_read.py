"""The one reader of the hot state (real Redis): which hashes it returns, as stored, and in how
many round trips."""

from __future__ import annotations

from unittest.mock import ANY

import pytest
import redis
from redis.connection import AbstractConnection

from databus import keys
from runs.domain.telemetry import trip
from schedule_engine import hot_state_read
from schedule_engine.feeds.tests.fleet_hot_state import (
    TRIP_101,
    write_fleet,
    write_progression,
    write_run,
    write_vehicle,
)
from schedule_engine.hot_state_read import (
    RunHotState,
    VehicleHotState,
    claimed_or_active_run_ids_read,
    fleet_outline_read,
    fleet_part_read,
    fleet_read,
    located_vehicle_ids_read,
    records_read,
)

NOW = 1_795_000_000


@pytest.fixture
def round_trips(monkeypatch):
    """The requests sent to Redis (a pipeline is one), but SCAN's: it walks the keyspace in
    steps whatever reads it."""
    sent = []
    send = AbstractConnection.send_packed_command

    def counting(self, command, check_health=True):
        packed = command if isinstance(command, bytes) else b"".join(command)
        if b"\r\nSCAN\r\n" not in packed[:20]:
            sent.append(command)
        return send(self, command, check_health)

    monkeypatch.setattr(AbstractConnection, "send_packed_command", counting)
    return sent


def test_the_fleet_read_holds_every_located_vehicle_and_every_active_or_cancelled_run(
    redis_client,
):
    fleet = write_fleet(redis_client, NOW)

    hot = fleet_read(redis_client, now=NOW)

    assert [v.vehicle_id for v in hot.vehicles] == [fleet.vehicle_on_run, fleet.vehicle_without_run]
    on_run, without_run = hot.vehicles
    assert (on_run.current_run, without_run.current_run) == (fleet.in_progress_run, None)
    assert on_run.position == redis_client.hgetall(keys.vehicle_position(fleet.vehicle_on_run))
    assert on_run.metadata["label"] == "Bus 1"
    assert (without_run.occupancy, without_run.metadata) == ({}, {})
    assert set(hot.runs) == {fleet.in_progress_run, fleet.canceled_run}
    assert (hot.tracking, hot.in_progress) == ({fleet.in_progress_run}, {fleet.in_progress_run})
    in_progress = hot.runs[fleet.in_progress_run]
    assert in_progress.trip == trip.validate_for_write(TRIP_101)
    assert in_progress.projection["vehicle_id"] == fleet.vehicle_on_run
    assert in_progress.stop_status and in_progress.congestion and in_progress.stop_time_updates
    assert hot.runs[fleet.canceled_run].stop_time_updates == {}


def test_a_cancellation_past_its_score_is_dropped_from_the_set(redis_client):
    fleet = write_fleet(redis_client, NOW)

    hot = fleet_read(redis_client, now=NOW)

    assert hot.canceled == {fleet.canceled_run}
    assert redis_client.zrange(keys.RUNS_CANCELED, 0, -1) == [fleet.canceled_run]


def test_chosen_records_are_read_in_the_order_asked_each_once(redis_client):
    fleet = write_fleet(redis_client, NOW)

    records = records_read(
        redis_client,
        vehicle_ids=["bus-9", fleet.vehicle_on_run, "bus-9", "nobody"],
        run_ids=[fleet.expired_canceled_run, fleet.in_progress_run, "none"],
    )

    assert [v.vehicle_id for v in records.vehicles] == ["bus-9", fleet.vehicle_on_run, "nobody"]
    assert records.vehicles[1].current_run == fleet.in_progress_run
    # What is not stored reads as nothing, not as an error.
    assert records.vehicles[2] == VehicleHotState("nobody", {})
    assert list(records.runs) == [fleet.expired_canceled_run, fleet.in_progress_run, "none"]
    assert records.runs["none"] == RunHotState("none")
    assert records.runs[fleet.in_progress_run] == fleet_read(redis_client, now=NOW).runs["101"]
    assert records_read(redis_client).vehicles == ()


def test_a_read_of_some_projection_fields_holds_those_alone_and_every_other_hash_whole(
    redis_client,
):
    fleet = write_fleet(redis_client, NOW)
    redis_client.hdel(keys.run(fleet.canceled_run), "last_event_at")
    fields = ("vehicle_id", "last_event_at")
    whole = fleet_read(redis_client, now=NOW).runs

    projected = fleet_read(redis_client, now=NOW, projection_fields=fields).runs
    records = records_read(
        redis_client,
        run_ids=[fleet.canceled_run, "none"],
        context_run_ids=[fleet.in_progress_run],
        projection_fields=fields,
    ).runs

    for rid, run in projected.items():
        stored = redis_client.hgetall(keys.run(rid))
        assert run.projection == {f: stored[f] for f in fields if f in stored}
        assert RunHotState(rid, whole[rid].projection, *_hashes_after_projection(run)) == whole[rid]
    # A field not stored is absent, as from HGETALL; a run with no hash reads as nothing.
    assert records[fleet.canceled_run].projection == {"vehicle_id": "bus-2"}
    assert records["none"] == RunHotState("none")
    context = records[fleet.in_progress_run]
    assert context.projection == {"vehicle_id": fleet.vehicle_on_run, "last_event_at": ANY}
    assert (context.trip, context.stop_time_updates) == (whole[fleet.in_progress_run].trip, {})


def _hashes_after_projection(run: RunHotState) -> tuple:
    return (run.trip, run.stop_status, run.congestion, run.stop_time_updates)


def test_the_ids_chosen_for_a_whole_fleet_snapshot(redis_client):
    fleet = write_fleet(redis_client, NOW)
    redis_client.set(keys.vehicle_current_run("bus-7"), "104")  # a claim, bus-7 not located
    redis_client.sadd(keys.RUNS_TRACKING, "105")

    assert located_vehicle_ids_read(redis_client) == [
        fleet.vehicle_on_run,
        fleet.vehicle_without_run,
    ]
    # Claimed or tracking/in progress; cancelled runs are not among them.
    assert claimed_or_active_run_ids_read(redis_client) == [fleet.in_progress_run, "104", "105"]


def write_large_fleet(client, size: int) -> None:
    for index in range(size):
        vid, rid = f"v{index}", str(1000 + index)
        write_vehicle(client, vid, at=NOW - 5, percentage=20, label=str(index))
        write_run(client, rid, vid, TRIP_101, state="In Progress", last_event_at=NOW - 60)
        write_progression(client, rid, at=NOW - 5)
        client.set(keys.vehicle_current_run(vid), rid)
        client.sadd(keys.RUNS_IN_PROGRESS, rid)


def test_the_fleet_read_takes_as_many_round_trips_for_a_large_fleet_as_for_a_small_one(
    redis_client, round_trips
):
    write_large_fleet(redis_client, 3)
    fleet_read(redis_client, now=NOW)  # connects and loads the script
    round_trips.clear()
    assert len(fleet_read(redis_client, now=NOW).vehicles) == 3
    small = len(round_trips)

    write_large_fleet(redis_client, 600)  # 4,800 hashes: several script calls
    round_trips.clear()
    hot = fleet_read(redis_client, now=NOW)
    large = len(round_trips)

    assert len(hot.vehicles) == len(hot.runs) == 600
    assert hot.runs["1599"].trip == trip.validate_for_write(TRIP_101)
    last = hot.vehicles[-1]
    assert (last.vehicle_id, last.current_run) == ("v99", "1099")
    assert last.position == redis_client.hgetall(keys.vehicle_position("v99"))
    assert large == small <= 3
    round_trips.clear()
    assert len(records_read(redis_client, vehicle_ids=["v1"], run_ids=["1001"]).vehicles) == 1
    one = len(round_trips)
    round_trips.clear()
    records_read(
        redis_client,
        vehicle_ids=[f"v{i}" for i in range(600)],
        run_ids=[str(1000 + i) for i in range(600)],
    )
    assert len(round_trips) == one


def test_an_outline_and_its_parts_read_what_the_fleet_read_does(redis_client):
    fleet = write_fleet(redis_client, NOW)
    write_large_fleet(redis_client, 40)

    whole = fleet_read(redis_client, now=NOW, projection_fields=("vehicle_id", "last_event_at"))
    outline = fleet_outline_read(redis_client, now=NOW)
    assert list(outline.vehicle_ids) == [state.vehicle_id for state in whole.vehicles]
    assert outline.claims == {state.vehicle_id: state.current_run for state in whole.vehicles}
    assert outline.run_claimants[fleet.in_progress_run] == fleet.vehicle_on_run
    assert outline.run_ids == sorted(whole.runs)

    halves = [
        fleet_part_read(
            redis_client,
            outline,
            vehicle_ids=list(outline.vehicle_ids[half::2]),
            run_ids=outline.run_ids[half::2],
            context_run_ids=[],
            projection_fields=("vehicle_id", "last_event_at"),
        )
        for half in (0, 1)
    ]
    assert {v.vehicle_id: v for part in halves for v in part.vehicles} == {
        v.vehicle_id: v for v in whole.vehicles
    }
    assert {rid: run for part in halves for rid, run in part.runs.items()} == dict(whole.runs)
    assert all(part.canceled_until == whole.canceled_until for part in halves)


def test_a_read_that_fails_leaves_no_reply_behind_for_the_next(redis_client):
    write_large_fleet(redis_client, 5)
    ids = [f"v{i}" for i in range(5)]
    before = records_read(redis_client, vehicle_ids=ids)
    held = redis_client.hgetall(keys.vehicle_occupancy("v2"))
    redis_client.delete(keys.vehicle_occupancy("v2"))
    redis_client.set(keys.vehicle_occupancy("v2"), "not a hash")

    with pytest.raises(redis.ResponseError, match="WRONGTYPE"):
        records_read(redis_client, vehicle_ids=ids)

    redis_client.delete(keys.vehicle_occupancy("v2"))
    redis_client.hset(keys.vehicle_occupancy("v2"), mapping=held)
    assert records_read(redis_client, vehicle_ids=ids) == before
    assert before.vehicles[2].occupancy == held
    assert redis_client.get(keys.vehicle_current_run("v2")) == "1002"


def test_a_read_of_more_commands_than_one_write_holds_reads_every_reply_in_order(
    redis_client, monkeypatch
):
    write_large_fleet(redis_client, 30)
    vehicle_ids, run_ids = [f"v{i}" for i in range(30)], [str(1000 + i) for i in range(30)]
    in_one = records_read(
        redis_client, vehicle_ids=vehicle_ids, run_ids=run_ids, projection_fields=("vehicle_id",)
    )

    monkeypatch.setattr(hot_state_read, "COMMANDS_PER_WRITE", 7)  # 210 hashes: 30 writes
    in_many = records_read(
        redis_client, vehicle_ids=vehicle_ids, run_ids=run_ids, projection_fields=("vehicle_id",)
    )

    assert in_many == in_one
    assert in_many.runs["1029"].projection == {"vehicle_id": "v29"}
    assert in_many.vehicles[29].metadata == redis_client.hgetall(keys.vehicle_metadata("v29"))


def test_the_located_vehicles_are_the_ingests_set_filled_once_from_a_scan_when_absent(
    redis_client,
):
    fleet = write_fleet(redis_client, NOW)  # positions stored without the set (as before it)
    redis_client.delete(keys.VEHICLES_LOCATED)

    located = [fleet.vehicle_on_run, fleet.vehicle_without_run]
    assert located_vehicle_ids_read(redis_client) == located  # scanned, nothing written
    assert not redis_client.exists(keys.VEHICLES_LOCATED)
    assert [state.vehicle_id for state in fleet_read(redis_client, now=NOW).vehicles] == located
    assert redis_client.smembers(keys.VEHICLES_LOCATED) == set(located)  # the read kept them

    redis_client.sadd(keys.VEHICLES_LOCATED, "zz-gone")  # its position was deleted since
    assert located_vehicle_ids_read(redis_client) == [*located, "zz-gone"]
    assert [state.vehicle_id for state in fleet_read(redis_client, now=NOW).vehicles] == located
    outline = fleet_outline_read(redis_client, now=NOW)
    part = fleet_part_read(
        redis_client,
        outline,
        vehicle_ids=list(outline.vehicle_ids),
        run_ids=[],
        context_run_ids=[],
        projection_fields=("vehicle_id",),
    )
    assert [state.vehicle_id for state in part.vehicles] == located
