"""Vehicles through the REST API, with their live hot state."""

from __future__ import annotations

import pytest

from databus import keys
from runs.domain.telemetry import occupancy as occupancy_contract
from runs.tests.domain_values import STOPS

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
