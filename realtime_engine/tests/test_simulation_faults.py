"""The simulator's fault schedule (pure): who goes silent, which payloads are invalid, when.

The invalid payloads are checked against the real ingress decoders: each one must be
refused (it is meant for the dead-letter stream), and the regular messages accepted.
"""

from __future__ import annotations

import pytest

from realtime_engine.ingest.topics import TelemetryLeaf
from realtime_engine.simulation.faults import (
    INJECTION_EVERY_S,
    NO_FAULTS,
    PAYLOADS_OF,
    STALE_START_S,
    FaultKind,
    InvalidPayload,
    fault_kinds_parse,
    fault_plan,
    invalid_payload,
)
from realtime_engine.simulation.messages import occupancy_payload, position_fix, position_payload
from realtime_engine.simulation.motion import ShapePoint
from realtime_engine.simulation.publishing import Load
from runs.domain.telemetry import occupancy, position
from runs.domain.telemetry.rejection import RejectReason, TelemetryRejected

VEHICLES = ("SIM-001", "SIM-002", "SIM-003")
NOW = 1_780_000_000


def test_fault_names_parse_and_an_unknown_one_is_named():
    assert fault_kinds_parse("stale, malformed,") == {FaultKind.STALE, FaultKind.MALFORMED}
    assert fault_kinds_parse("") == frozenset()
    with pytest.raises(ValueError, match=r"'lag'.*out_of_bounds"):
        fault_kinds_parse("stale,lag")


def test_without_faults_nothing_is_silenced_or_injected():
    plan = fault_plan(frozenset(), VEHICLES, seed="1", stale_gap_s=100)
    assert plan == NO_FAULTS
    assert not any(plan.silenced(v, t) for v in VEHICLES for t in range(0, 5000, 7))


def test_stale_silences_one_vehicle_for_the_gap_then_it_resumes():
    plan = fault_plan({FaultKind.STALE}, VEHICLES, seed="1", stale_gap_s=2700)
    (silence,) = plan.silences
    silent = silence.vehicle_id
    assert silent in VEHICLES
    assert not plan.silenced(silent, STALE_START_S - 1)
    assert plan.silenced(silent, STALE_START_S)
    assert plan.silenced(silent, STALE_START_S + 2699)
    assert not plan.silenced(silent, STALE_START_S + 2700)
    others = [v for v in VEHICLES if v != silent]
    assert not any(plan.silenced(v, STALE_START_S + 10) for v in others)
    assert plan.injections == ()
    # Deterministic given the seed.
    assert fault_plan({FaultKind.STALE}, VEHICLES, seed="1", stale_gap_s=2700) == plan


def test_malformed_and_out_of_bounds_send_each_payload_once_spread_over_the_fleet():
    plan = fault_plan(
        {FaultKind.MALFORMED, FaultKind.OUT_OF_BOUNDS}, VEHICLES, seed="1", stale_gap_s=0
    )
    sent = [i.payload for i in plan.injections]
    expected = PAYLOADS_OF[FaultKind.MALFORMED] + PAYLOADS_OF[FaultKind.OUT_OF_BOUNDS]
    assert sorted(sent) == sorted(expected)
    assert {i.vehicle_id for i in plan.injections} == set(VEHICLES)
    times = [i.at_s for i in plan.injections]
    assert times == sorted(times)
    first = plan.injections[0]
    assert plan.injections_at(first.at_s) == (first,)
    assert plan.injections_at(first.at_s + 1) == ()
    assert times[-1] <= 20 + len(PAYLOADS_OF[FaultKind.MALFORMED]) * INJECTION_EVERY_S
    assert plan.silences == ()


REASONS = {
    InvalidPayload.NOT_JSON: RejectReason.NOT_JSON,
    InvalidPayload.NOT_AN_OBJECT: RejectReason.NOT_AN_OBJECT,
    InvalidPayload.MISSING_COORDINATES: RejectReason.MISSING_COORDINATES,
    InvalidPayload.WRONG_TYPE: RejectReason.WRONG_TYPE,
    InvalidPayload.TIMESTAMP_IN_MILLISECONDS: RejectReason.TIMESTAMP_IN_MILLISECONDS,
    InvalidPayload.NEGATIVE_SPEED: RejectReason.NEGATIVE_SPEED,
    InvalidPayload.NEGATIVE_OCCUPANCY: RejectReason.NEGATIVE_OCCUPANCY,
    InvalidPayload.LATITUDE_OUT_OF_RANGE: RejectReason.COORDINATES_OUT_OF_RANGE,
    InvalidPayload.LONGITUDE_OUT_OF_RANGE: RejectReason.COORDINATES_OUT_OF_RANGE,
}


@pytest.mark.parametrize("kind", list(InvalidPayload))
def test_every_injected_payload_is_refused_by_the_ingress_contract(kind):
    plan = fault_plan(set(FaultKind), VEHICLES, seed="1", stale_gap_s=0)
    (injection,) = [i for i in plan.injections if i.payload is kind]
    body = invalid_payload(kind, latitude=45.52, longitude=-122.68, timestamp=NOW)
    decoder = occupancy if injection.leaf is TelemetryLeaf.OCCUPANCY else position
    with pytest.raises(TelemetryRejected) as refused:
        decoder.decode(body, vehicle_id=injection.vehicle_id, received_at=NOW)
    assert refused.value.reason is REASONS[kind]


def test_regular_messages_are_accepted_by_the_ingress_contract():
    point = ShapePoint(45.52, -122.68, 359.96)
    body = position_payload(position_fix(point, speed_mps=27.0, odometer_m=12_345.6, timestamp=NOW))
    fix = position.decode(body, vehicle_id="SIM-001", received_at=NOW + 0.4)
    assert (fix.latitude, fix.longitude, fix.timestamp) == (45.52, -122.68, NOW)
    assert (fix.speed, fix.odometer) == (27.0, 12_346)
    load = occupancy.decode(
        occupancy_payload(Load(count=35, percentage=50, timestamp=NOW)),
        vehicle_id="SIM-001",
        received_at=NOW,
    )
    assert (load.count, load.percentage, load.status) == (35, 50, "STANDING_ROOM_ONLY")
