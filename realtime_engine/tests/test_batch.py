"""Batch planning (pure): admission of registered vehicles only, coalescing per vehicle,
history rows, counts by entity and reason."""

from __future__ import annotations

import json

from realtime_engine.ingest.batch import accepted_batch, plan_batch
from realtime_engine.ingest.decode import Rejection, receive_message
from realtime_engine.ingest.vehicle_registry import AnyVehicle
from runs.domain.telemetry.rejection import RejectReason

ROOT = "transit"
T0 = 1_771_249_000
EVERY_VEHICLE = AnyVehicle()


def msg(vid: str, leaf: str, payload, received_at: float = T0 + 100.0):
    raw = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    return receive_message(f"{ROOT}/vehicle/{vid}/{leaf}", raw, received_at, ROOT)


def test_plan_keeps_every_position_for_history_and_the_latest_per_vehicle_for_hot_state():
    plan = plan_batch(
        [
            msg("a", "position", {"latitude": 1, "longitude": 1, "timestamp": T0 + 2}),
            msg("a", "position", {"latitude": 2, "longitude": 2, "timestamp": T0 + 1}),
            msg("b", "position", {"latitude": 3, "longitude": 3, "timestamp": T0}),
            msg("a", "occupancy", {"occupancy_percentage": 10, "timestamp": T0}),
            msg("a", "occupancy", {"occupancy_percentage": 90, "timestamp": T0 + 5}),
            msg("a", "progression", {}),
            msg("a", "position", b"{"),
            msg("a", "wind", {}),
        ],
        vehicles=EVERY_VEHICLE,
    )
    assert [p.timestamp for p in plan.history] == [T0 + 2, T0 + 1, T0]
    assert {v: p.latitude for v, p in plan.latest_positions.items()} == {"a": 1.0, "b": 3.0}
    assert plan.latest_occupancies["a"].percentage == 90
    assert plan.received == {"position": 4, "occupancy": 2, "progression": 1, "unknown": 1}
    assert plan.accepted == {"position": 3, "occupancy": 2}
    assert plan.rejected == {("position", "not_json"): 1, ("unknown", "unknown_topic"): 1}

    batch = accepted_batch(plan, ["b"], ["a"])
    assert list(batch.positions) == ["b"] and list(batch.occupancies) == ["a"]
    assert batch.message_count == 5 and batch.received_at == T0 + 100.0


def test_equal_timestamps_go_to_the_later_arrival():
    plan = plan_batch(
        [
            msg("a", "position", {"latitude": 1, "longitude": 1, "timestamp": T0}),
            msg("a", "position", {"latitude": 2, "longitude": 2, "timestamp": T0}),
        ],
        vehicles=EVERY_VEHICLE,
    )
    assert plan.latest_positions["a"].latitude == 2.0


def test_values_of_vehicles_not_registered_become_unknown_vehicle_rejections():
    stranger_position = msg("x", "position", {"latitude": 5, "longitude": 5, "timestamp": T0})
    stranger_occupancy = msg("x", "occupancy", {"occupancy_percentage": 10, "timestamp": T0})
    plan = plan_batch(
        [
            msg("a", "position", {"latitude": 1, "longitude": 1, "timestamp": T0}),
            stranger_position,
            stranger_occupancy,
            # A malformed message keeps its own reason, whoever sent it.
            msg("x", "position", b"{"),
        ],
        vehicles=frozenset({"a"}),
    )
    assert list(plan.latest_positions) == ["a"] and not plan.latest_occupancies
    assert [p.vehicle_id for p in plan.history] == ["a"]
    assert plan.accepted == {"position": 1}
    assert plan.rejected == {
        ("position", "unknown_vehicle"): 1,
        ("occupancy", "unknown_vehicle"): 1,
        ("position", "not_json"): 1,
    }
    # The letter keeps the message as received, so it can be replayed once registered.
    assert plan.rejections[:2] == [
        Rejection(
            received.topic,
            received.payload,
            RejectReason.UNKNOWN_VEHICLE,
            "vehicle 'x' is not registered",
            T0 + 100.0,
        )
        for received in (stranger_position, stranger_occupancy)
    ]
    assert accepted_batch(plan, ["a"], []).message_count == 1
