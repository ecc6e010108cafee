"""What a WebSocket client gets on subscribe, per topic (real Redis, hot state written through
the contracts): which vehicles and runs each topic's snapshot holds, and what of them."""

from __future__ import annotations

import pytest

from databus import keys
from databus.notify import AlertChanged
from realtime_engine.ws.groups import parse_topic
from realtime_engine.ws.snapshot import snapshot_read
from runs.domain.lifecycle.states import RunState
from runs.domain.projections import run as run_projection
from runs.domain.telemetry import occupancy, position, stop_time_updates, vehicle_stop_status

NOW = 1_795_000_000


def write_vehicle(client, vehicle_id: str, *, located: bool = True, load: int | None = None):
    if located:
        client.hset(
            keys.vehicle_position(vehicle_id),
            mapping=position.validate_for_write(
                position.Position(vehicle_id, 38.9, -77.0, NOW - 5, NOW - 4.5)
            ),
        )
    if load is not None:
        client.hset(
            keys.vehicle_occupancy(vehicle_id),
            mapping=occupancy.validate_for_write(
                occupancy.Occupancy(vehicle_id, NOW - 5, NOW - 4.5, percentage=load)
            ),
        )


def write_run(client, run_id: str, vehicle_id: str, route_id: str, *, claim: bool = True):
    client.hset(
        keys.run(run_id),
        mapping=run_projection.validate_for_write(
            run_projection.RunProjection(
                run_id,
                vehicle_id=vehicle_id,
                state=RunState.IN_PROGRESS,
                trip_id=f"T-{run_id}",
                route_id=route_id,
                start_date="20261122",
                start_time="10:30:00",
            )
        ),
    )
    if claim:
        client.set(keys.vehicle_current_run(vehicle_id), run_id)


@pytest.fixture
def fleet(redis_client):
    """bus-1 on run-1 (R10, in progress, with stop status and predictions); bus-2 on run-2
    (R20, tracking); bus-3 located without a run; bus-4 with an occupancy and no position,
    claimed by run-4 (R10, in no set); run-5 (R10) cancelled, claiming nobody."""
    write_vehicle(redis_client, "bus-1", load=35)
    write_vehicle(redis_client, "bus-2")
    write_vehicle(redis_client, "bus-3")
    write_vehicle(redis_client, "bus-4", located=False, load=80)
    write_run(redis_client, "run-1", "bus-1", "R10")
    write_run(redis_client, "run-2", "bus-2", "R20")
    write_run(redis_client, "run-4", "bus-4", "R10")
    write_run(redis_client, "run-5", "bus-5", "R10", claim=False)
    redis_client.sadd(keys.RUNS_IN_PROGRESS, "run-1")
    redis_client.sadd(keys.RUNS_TRACKING, "run-1", "run-2")
    redis_client.zadd(keys.RUNS_CANCELED, {"run-5": NOW + 3600})
    redis_client.hset(
        keys.run_vehicle_stop_status("run-1"),
        mapping=vehicle_stop_status.validate_for_write(
            vehicle_stop_status.VehicleStopStatus(
                vehicle_stop_status.StopStatusCode.STOPPED_AT, NOW - 5, 3, "S3"
            )
        ),
    )
    redis_client.hset(
        keys.run_stop_time_updates("run-1"),
        mapping=stop_time_updates.validate_for_write(
            stop_time_updates.StopTimeUpdates(
                NOW - 5,
                (
                    stop_time_updates.StopTimeUpdate(3, "S3", NOW - 10, NOW - 5, observed=True),
                    stop_time_updates.StopTimeUpdate(4, "S4", NOW + 60, NOW + 70, 20),
                ),
            )
        ),
    )
    return redis_client


def vehicles_of(snapshot) -> list[tuple]:
    return [(v.vehicle_id, v.run_id, v.route_id, v.occupancy_percentage) for v in snapshot.vehicles]


def test_all_holds_the_located_vehicles_and_the_claimed_or_tracked_runs(fleet):
    snapshot = snapshot_read(fleet, parse_topic("all"))

    assert snapshot.topic == "all"
    assert vehicles_of(snapshot) == [
        ("bus-1", "run-1", "R10", 35),
        ("bus-2", "run-2", "R20", None),
        ("bus-3", None, None, None),
    ]
    assert [run.run_id for run in snapshot.runs] == ["run-1", "run-2", "run-4"]
    first = snapshot.runs[0]
    assert (first.state, first.vehicle_id, first.trip_id) == ("In Progress", "bus-1", "T-run-1")
    assert (first.stop_status.current_status, first.stop_status.stop_id) == ("STOPPED_AT", "S3")
    assert (first.next_stop.stop_id, first.next_stop.arrival) == ("S4", NOW + 60)
    assert snapshot.runs[1].stop_status is None and snapshot.runs[1].next_stop is None


def test_a_route_holds_its_runs_and_their_located_vehicles(fleet):
    snapshot = snapshot_read(fleet, parse_topic("route:R10"))

    assert [run.run_id for run in snapshot.runs] == ["run-1", "run-4"]
    assert vehicles_of(snapshot) == [("bus-1", "run-1", "R10", 35)]


def test_a_vehicle_holds_itself_and_its_current_run(fleet):
    snapshot = snapshot_read(fleet, parse_topic("vehicle:bus-4"))

    assert vehicles_of(snapshot) == [("bus-4", "run-4", "R10", 80)]
    assert [run.run_id for run in snapshot.runs] == ["run-4"]
    assert snapshot_read(fleet, parse_topic("vehicle:bus-3")).runs == []
    nowhere = snapshot_read(fleet, parse_topic("vehicle:bus-9"))
    assert (nowhere.vehicles, nowhere.runs) == ([], [])


def test_a_run_holds_itself_and_its_vehicle(fleet):
    snapshot = snapshot_read(fleet, parse_topic("run:run-1"))

    assert [run.run_id for run in snapshot.runs] == ["run-1"]
    assert vehicles_of(snapshot) == [("bus-1", "run-1", "R10", 35)]
    # A cancelled run is still shown to whoever watches it; its vehicle has no data.
    cancelled = snapshot_read(fleet, parse_topic("run:run-5"))
    assert ([r.run_id for r in cancelled.runs], cancelled.vehicles) == (["run-5"], [])
    unknown = snapshot_read(fleet, parse_topic("run:run-9"))
    assert (unknown.vehicles, unknown.runs) == ([], [])


def test_a_snapshot_writes_nothing(fleet):
    fleet.zadd(keys.RUNS_CANCELED, {"run-6": NOW - 3600})  # expired: only a feed build drops it
    before = {key: fleet.dump(key) for key in fleet.scan_iter()}

    for topic in ("all", "alerts", "route:R10", "vehicle:bus-1", "run:run-1"):
        snapshot_read(fleet, parse_topic(topic), ACTIVE_ALERTS)

    assert {key: fleet.dump(key) for key in fleet.scan_iter()} == before


def active_alert(alert_id: int, route_ids=(), stop_ids=()) -> AlertChanged:
    return AlertChanged(
        alert_id=alert_id,
        action="active",
        active=True,
        cause="CONSTRUCTION",
        effect="DETOUR",
        severity="WARNING",
        header=f"alert {alert_id}",
        route_ids=route_ids,
        stop_ids=stop_ids,
    )


# One on route R10 and a stop of it, one on a stop only, one agency-wide (names nothing).
ACTIVE_ALERTS = (
    active_alert(1, route_ids=("R10",), stop_ids=("S4",)),
    active_alert(2, stop_ids=("S9",)),
    active_alert(3),
)


def alert_ids(snapshot) -> list[int] | None:
    return None if snapshot.alerts is None else [alert.alert_id for alert in snapshot.alerts]


def test_all_and_alerts_list_every_active_alert_and_a_route_those_naming_it(fleet):
    everything = snapshot_read(fleet, parse_topic("all"), ACTIVE_ALERTS)
    assert alert_ids(everything) == [1, 2, 3]
    first = everything.alerts[0]
    assert (first.effect, first.header, first.route_ids, first.stop_ids) == (
        "DETOUR",
        "alert 1",
        ["R10"],
        ["S4"],
    )
    only_alerts = snapshot_read(fleet, parse_topic("alerts"), ACTIVE_ALERTS)
    assert alert_ids(only_alerts) == [1, 2, 3]
    assert (only_alerts.vehicles, only_alerts.runs) == ([], [])
    assert alert_ids(snapshot_read(fleet, parse_topic("route:R10"), ACTIVE_ALERTS)) == [1]
    assert alert_ids(snapshot_read(fleet, parse_topic("route:R20"), ACTIVE_ALERTS)) == []
    # No alert active: the list is there, empty, so a client drops what it showed.
    assert alert_ids(snapshot_read(fleet, parse_topic("all"))) == []


def test_a_run_or_vehicle_snapshot_carries_no_alerts(fleet):
    for topic in ("run:run-1", "vehicle:bus-1"):
        assert snapshot_read(fleet, parse_topic(topic), ACTIVE_ALERTS).alerts is None
