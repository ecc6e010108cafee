"""Vehicles through the REST API, with their live hot state."""

from __future__ import annotations

import pytest

from databus import keys
from runs.domain.telemetry import occupancy as occupancy_contract
from runs.domain.tests.domain_values import STOPS

pytestmark = pytest.mark.usefixtures("redis_client")


def test_vehicle_list(dispatcher_api, vehicle, other_vehicle):
    body = dispatcher_api.get("/api/vehicles/").json()
    assert [v["id"] for v in body["results"]] == ["V1", "V2"]
    assert body["results"][0]["company"] == "Test Transit"


def test_vehicle_detail_shows_live_position_occupancy_and_run(
    run_in_state, dispatcher_api, redis_client
):
    from runs.domain.lifecycle.states import RunState

    run = run_in_state(RunState.IN_PROGRESS)
    redis_client.hset(
        keys.vehicle_occupancy("V1"),
        mapping=occupancy_contract.validate_for_write(
            occupancy_contract.Occupancy(
                vehicle_id="V1",
                timestamp=1_780_000_000,
                received_at=1_780_000_000.0,
                percentage=55,
            )
        ),
    )
    body = dispatcher_api.get("/api/vehicles/V1/").json()
    assert body["current_run_id"] == str(run.pk)
    assert body["position"]["latitude"] == pytest.approx(STOPS[1][1])
    assert body["occupancy"]["occupancy_status"] == "STANDING_ROOM_ONLY"
    assert body["wheelchair_accessible"] is True


def test_vehicle_without_telemetry_and_unknown_vehicle(dispatcher_api, vehicle):
    body = dispatcher_api.get("/api/vehicles/V1/").json()
    assert (body["position"], body["occupancy"], body["current_run_id"]) == (None, None, None)
    missing = dispatcher_api.get("/api/vehicles/NOPE/")
    assert missing.status_code == 404
    assert missing.json()["code"] == "not_found"


def test_a_corrupted_live_record_reads_as_absent_and_is_counted(
    run_in_state, dispatcher_api, redis_client
):
    from databus.metrics import REGISTRY
    from runs.domain.lifecycle.states import RunState

    def skipped(reason: str) -> float:
        labels = {"feed": "api", "reason": reason}
        return REGISTRY.get_sample_value("databus_feed_entities_skipped_total", labels) or 0.0

    run = run_in_state(RunState.IN_PROGRESS)
    redis_client.hset(
        keys.vehicle_occupancy("V1"),
        mapping=occupancy_contract.validate_for_write(
            occupancy_contract.Occupancy("V1", 1_780_000_000, 1_780_000_000.0, percentage=55)
        ),
    )
    before = skipped("bad_position"), skipped("bad_occupancy")
    redis_client.hset(keys.vehicle_position("V1"), "latitude", "north")
    redis_client.hset(keys.vehicle_occupancy("V1"), "occupancy_count", "4294967296")

    response = dispatcher_api.get("/api/vehicles/V1/")

    assert response.status_code == 200
    body = response.json()
    assert body["position"] is None
    assert (body["occupancy"]["occupancy_percentage"], body["occupancy"]["occupancy_count"]) == (
        55,
        None,
    )
    assert body["current_run_id"] == str(run.pk)
    assert (skipped("bad_position"), skipped("bad_occupancy")) == (before[0] + 1, before[1] + 1)
