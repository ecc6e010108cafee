"""Each guard, passing and failing, over pure snapshots."""

from __future__ import annotations

import pytest

from runs.domain.lifecycle.guards import GUARDS, Guard
from runs.domain.lifecycle.roles import ActorRole
from runs.domain.lifecycle.snapshot import ClaimHolders
from runs.domain.lifecycle.states import RunState
from runs.domain.tests.domain_values import NOW, STOPS, at_terminal, context, position, snapshot

S = RunState.IN_PROGRESS
FAR_BEFORE_TERMINAL = position(STOPS[2][1], STOPS[2][2], speed=0.0)

# guard → (snapshot, context) that pass, and (snapshot, context) that fail.
CASES = {
    Guard.ACTOR_MAY_ACT_ON_RUN: (
        (snapshot(S), context(ActorRole.OPERATOR, actor_operates_run=True)),
        (snapshot(S), context(ActorRole.OPERATOR, actor_operates_run=False)),
    ),
    Guard.GTFS_VALID: (
        (snapshot(S), context()),
        (snapshot(S, scheduled_trip=None), context()),  # trip absent from the current feed
    ),
    Guard.RESOURCES_UNCLAIMED: (
        (snapshot(S), context()),
        (snapshot(S, claims=ClaimHolders(vehicle=("another-run",))), context()),
    ),
    Guard.CANCELLATION_AUTHORIZED: (
        (snapshot(S), context(ActorRole.OPERATOR)),
        (snapshot(S), context(actor_role="guest")),  # a role outside the allowed set
    ),
    Guard.INTERRUPTION_AUTHORIZED: (
        (snapshot(S), context(ActorRole.SYSTEM)),
        (snapshot(S), context(actor_role="guest")),
    ),
    Guard.SHORT_TURN_AUTHORIZED: (
        (snapshot(S), context(ActorRole.DISPATCHER)),
        (snapshot(S), context(ActorRole.OPERATOR, actor_operates_run=True)),
    ),
    Guard.SHORT_TURN_STOP_VALID: (
        (snapshot(S), context(details={"stop_id": "S3"})),
        (snapshot(S), context(details={"stop_id": "S4"})),  # the terminal stop
    ),
    Guard.VEHICLE_TRACKED: (
        (snapshot(S, last_seen=NOW - 5), context()),
        (snapshot(S, last_seen=None, position=None), context()),
    ),
    Guard.VEHICLE_MOVING: (
        (snapshot(S, position=position(speed=0.6)), context()),
        (snapshot(S, position=position(speed=0.5)), context()),
    ),
    Guard.TELEMETRY_STALE: (
        (snapshot(S, last_seen=NOW - 61), context()),
        (snapshot(S, last_seen=NOW - 59), context()),
    ),
    Guard.TELEMETRY_FRESH: (
        (snapshot(S, last_seen=NOW - 59), context()),
        (snapshot(S, last_seen=NOW - 61), context()),
    ),
    Guard.TELEMETRY_EXPIRED: (
        (snapshot(S, last_seen=NOW - 601), context()),
        (snapshot(S, last_seen=NOW - 300), context()),
    ),
    Guard.AT_TERMINAL_STOP: (
        (snapshot(S, position=at_terminal()), context()),
        (snapshot(S, position=FAR_BEFORE_TERMINAL), context()),
    ),
    Guard.VEHICLE_CHANGE_AUTHORIZED: (
        (snapshot(S), context(ActorRole.DISPATCHER)),
        (snapshot(S), context(ActorRole.OPERATOR, actor_operates_run=True)),
    ),
    Guard.NEW_VEHICLE_UNCLAIMED: (
        (snapshot(S), context()),
        (snapshot(S, claims=ClaimHolders(requested_vehicle=("run-2",))), context()),
    ),
    Guard.TRIP_NOT_CANCELLED: (
        (snapshot(S), context()),
        (snapshot(S, trip_cancelled=True), context()),
    ),
}


def test_every_guard_has_a_pass_and_a_fail_case():
    assert set(CASES) == set(Guard)


@pytest.mark.parametrize("guard", list(Guard), ids=str)
def test_guard_passes_and_fails(guard):
    (pass_snapshot, pass_context), (fail_snapshot, fail_context) = CASES[guard]
    predicate = GUARDS[guard].predicate
    assert predicate(pass_snapshot, pass_context) is True
    assert predicate(fail_snapshot, fail_context) is False


@pytest.mark.parametrize(
    "field, value",
    [("route_id", "R9"), ("shape_id", "SH9"), ("direction_id", 1), ("trip_id", "T9")],
)
def test_gtfs_valid_refuses_any_mismatch_with_the_current_feed(field, value):
    import dataclasses

    run = dataclasses.replace(snapshot(S), **{field: value})
    assert GUARDS[Guard.GTFS_VALID].predicate(run, context()) is False


@pytest.mark.parametrize("stop_id", ["S1", "S2", "S3"])
def test_short_turn_is_allowed_at_any_stop_of_the_trip_before_the_terminal(stop_id):
    assert GUARDS[Guard.SHORT_TURN_STOP_VALID].predicate(
        snapshot(S), context(details={"stop_id": stop_id})
    )


@pytest.mark.parametrize("details", [{}, {"stop_id": "NOT-ON-TRIP"}, {"stop_id": 3}])
def test_short_turn_refuses_a_missing_or_foreign_stop(details):
    assert not GUARDS[Guard.SHORT_TURN_STOP_VALID].predicate(snapshot(S), context(details=details))


def test_a_vehicle_claiming_the_terminal_stop_far_from_it_is_not_at_the_terminal():
    # Only the position counts: being 300 m before the terminal is not being at it,
    # whatever stop id the vehicle reports.
    far = snapshot(S, position=FAR_BEFORE_TERMINAL)
    assert not GUARDS[Guard.AT_TERMINAL_STOP].predicate(far, context())
    assert not GUARDS[Guard.AT_TERMINAL_STOP].predicate(snapshot(S, geometry=None), context())
