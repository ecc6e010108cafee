"""The map-matcher on constructed shapes: loops, out-and-back streets, layovers, jumps, dwells."""

from __future__ import annotations

import dataclasses

import pytest

from runs.domain.geometry import LocalProjection, Polyline, TripGeometry, stop_distances_along
from runs.domain.progression.config import DEFAULT, WMATA
from runs.domain.progression.matching import Fix, MatchStep, match_position
from runs.domain.progression.state import MatchState
from runs.domain.progression.status import Phase
from runs.domain.progression.stop_events import EventSource
from runs.domain.telemetry.vehicle_stop_status import StopStatusCode

PROJECTION = LocalProjection(38.9, -77.03)
START = 1_771_257_600.0  # scheduled departure from the first stop


def geometry(points: list[tuple[float, float]], stops: list[tuple[float, float]]) -> TripGeometry:
    line = Polyline.from_xy(points)
    return TripGeometry(
        trip_id="t1",
        shape_id="s1",
        projection=PROJECTION,
        polyline=line,
        stop_sequences=tuple(range(2, 2 + 2 * len(stops), 2)),  # WMATA-like: from 2, with gaps
        stop_ids=tuple(f"S{i}" for i in range(len(stops))),
        stop_distances_m=tuple(stop_distances_along(line, stops)),
    )


def fix(
    t: float, x: float, y: float, speed: float | None = 8.0, bearing: float | None = None
) -> Fix:
    lat, lon = PROJECTION.to_latlon(x, y)
    return Fix(START + t, lat, lon, speed, bearing)


def drive(
    trip: TripGeometry, fixes: list[Fix], config=DEFAULT, state: MatchState | None = None
) -> list[MatchStep]:
    state = state or MatchState(scheduled_start=START)
    steps = []
    for f in fixes:
        step = match_position(trip, state, f, config)
        state = step.state
        steps.append(step)
    return steps


def events_of(steps: list[MatchStep]):
    return [event for step in steps for event in step.events]


# A square loop that ends where it starts; stops at the start, on each side, and the end.
LOOP = geometry(
    [(0, 0), (500, 0), (500, 500), (0, 500), (0, 0)],
    [(0, 5), (250, 5), (505, 250), (250, 505), (5, 250), (0, 5)],
)


def test_loop_route_reaches_its_last_stop_at_the_same_place_as_its_first():
    path = [(0, 0), (250, 0), (500, 100), (500, 400), (300, 500), (0, 400), (0, 150), (0, 3)]
    steps = drive(LOOP, [fix(60 * (i + 1), x, y, bearing=None) for i, (x, y) in enumerate(path)])
    distances = [s.progress.distance_m for s in steps]
    assert distances == sorted(distances)
    assert steps[-1].progress.distance_m == pytest.approx(1997, abs=1)
    assert steps[-1].progress.stop_index == 5  # the terminal, not the first stop
    assert steps[-1].progress.status is StopStatusCode.STOPPED_AT
    assert [e.stop_sequence for e in events_of(steps)] == [2, 4, 6, 8, 10, 12]


def test_out_and_back_street_matches_the_return_leg_on_the_way_back():
    # East 1 km on y=0, back west on y=12: the same street twice.
    trip = geometry(
        [(0, 0), (1000, 0), (1000, 12), (0, 12)], [(0, -5), (400, -5), (990, 6), (400, 17), (0, 17)]
    )
    out = [fix(30 * i, 100 * i, 2, bearing=90) for i in range(1, 10)]
    back = [fix(300 + 30 * i, 1000 - 100 * i, 10, bearing=270) for i in range(1, 7)]
    steps = drive(trip, out + back, config=WMATA)
    at_400_back = steps[len(out) + 5]
    assert at_400_back.progress.distance_m == pytest.approx(1012 + 600, abs=5)
    assert at_400_back.progress.stop_sequence == 8
    assert at_400_back.progress.status is StopStatusCode.STOPPED_AT


def test_out_and_back_vehicle_appearing_mid_trip_takes_the_leg_its_heading_drives():
    trip = geometry(
        [(0, 0), (1000, 0), (1000, 12), (0, 12)], [(0, -5), (400, -5), (990, 6), (400, 17), (0, 17)]
    )
    westbound = drive(trip, [fix(1200, 600, 6, bearing=270)])[0]
    eastbound = drive(trip, [fix(1200, 600, 6, bearing=90)])[0]
    assert westbound.progress.distance_m == pytest.approx(1412, abs=1)
    assert eastbound.progress.distance_m == pytest.approx(600, abs=1)
    assert westbound.events == eastbound.events == ()  # nothing known about stops behind


STRAIGHT = geometry(
    [(0, 0), (3000, 0)], [(0, 5), (500, 5), (1000, 5), (1500, 5), (2000, 5), (2500, 5), (3000, 5)]
)


def test_gps_jump_of_300_m_is_off_route_and_does_not_move_the_bus():
    steps = drive(STRAIGHT, [fix(0, 200, 0), fix(30, 400, 0), fix(60, 650, 300), fix(90, 700, 0)])
    jumped = steps[2]
    assert jumped.progress.off_route
    assert jumped.progress.distance_m == pytest.approx(400)
    assert jumped.events == ()
    assert not steps[3].progress.off_route
    assert steps[3].progress.distance_m == pytest.approx(700)


def test_never_moves_back_more_than_gps_noise():
    steps = drive(STRAIGHT, [fix(0, 200, 0), fix(30, 800, 0), fix(60, 650, 0)])
    assert steps[2].progress.distance_m >= 800 - DEFAULT.backward_tolerance_m


def test_vehicle_stopped_two_minutes_at_a_stop_is_one_observed_dwell():
    dwell = [fix(t, 998 + (t % 3), 1, speed=0.0) for t in range(60, 181, 30)]
    steps = drive(
        STRAIGHT,
        [fix(0, 700, 0), fix(30, 960, 0, speed=6.0), *dwell, fix(210, 1150, 0), fix(240, 1400, 0)],
    )
    statuses = [s.progress.status for s in steps]
    assert statuses[1] is StopStatusCode.INCOMING_AT  # 40 m before it: within 50 m
    assert all(s is StopStatusCode.STOPPED_AT for s in statuses[2:7])
    assert {s.progress.stop_sequence for s in steps[2:7]} == {6}
    dwell_events = [e for e in events_of(steps) if e.stop_sequence == 6]
    assert len(dwell_events) == 1
    event = dwell_events[0]
    assert event.source is EventSource.OBSERVED
    assert (event.arrived_at, event.departed_at) == (START + 60, START + 180)


def test_default_stop_zone_needs_the_bus_slow_wmata_zone_does_not():
    moving = fix(30, 1010, 0, speed=9.0)
    default = drive(STRAIGHT, [fix(0, 700, 0), moving])[-1].progress
    wmata = drive(STRAIGHT, [fix(0, 700, 0), moving], config=WMATA)[-1].progress
    assert (default.status, default.stop_sequence) == (StopStatusCode.IN_TRANSIT_TO, 8)
    assert (wmata.status, wmata.stop_sequence) == (StopStatusCode.STOPPED_AT, 6)


def test_pings_every_30_s_skipping_stops_get_interpolated_arrivals():
    # 20 m/s, pings every 30 s = 600 m apart: every stop (500 m apart) falls between two pings.
    steps = drive(
        STRAIGHT,
        [fix(0, 100, 0), fix(30, 700, 0), fix(60, 1300, 0), fix(90, 1900, 0), fix(120, 2500, 0)],
    )
    events = events_of(steps)
    assert [e.stop_sequence for e in events] == [4, 6, 8, 10]  # 12: the bus is at it now
    assert all(e.source is EventSource.INTERPOLATED for e in events)
    assert [e.arrived_at - START for e in events] == pytest.approx([20, 45, 70, 95])
    assert all(e.arrived_at == e.departed_at for e in events)


def test_terminal_loop_to_the_layover_and_back_stays_pre_trip_until_departure():
    # The bus reaches the first stop, drives 600 m of the route to its layover, parks,
    # drives back against the shape and only then departs (WMATA's Woodley Park).
    layover = [
        fix(-900, 0, 0, speed=0.0),
        fix(-870, 300, 0, speed=10.0, bearing=90),
        fix(-840, 600, 0, speed=0.0),
        fix(-200, 600, 0, speed=0.0),  # parked on the route after the early-departure gate
        fix(-170, 350, 0, speed=9.0, bearing=270),
        fix(-140, 60, 0, speed=9.0, bearing=270),
        fix(-110, 2, 0, speed=0.0),
        fix(0, 3, 0, speed=0.0),
    ]
    depart = [fix(30, 250, 0, speed=9.0, bearing=90), fix(60, 520, 0, speed=9.0, bearing=90)]
    steps = drive(STRAIGHT, layover + depart, config=WMATA)
    assert all(s.progress.phase is Phase.PRE_TRIP for s in steps[: len(layover)])
    assert all(s.progress.stop_sequence == 2 for s in steps[: len(layover)])
    assert all(s.events == () for s in steps[: len(layover)])
    assert steps[-1].progress.phase is Phase.ON_ROUTE
    events = events_of(steps)
    assert [e.stop_sequence for e in events] == [2]
    assert events[0].departed_at == START + 0
    assert events[0].source is EventSource.OBSERVED


def test_a_bus_that_left_before_the_early_departure_allowance_is_followed_once_it_opens():
    # Seen at its first stop 15 min before the start, gone 10 min early (DEFAULT allows 5).
    early = [fix(-900, 0, 0, speed=0.0)] + [
        fix(-600 + 20 * i, 160 * i, 0, speed=8.0, bearing=90) for i in range(1, 18)
    ]
    steps = drive(STRAIGHT, early)
    before_gate = [s for s, f in zip(steps, early, strict=True) if f.timestamp < START - 300]
    after_gate = steps[len(before_gate) :]
    assert all(s.progress.phase is Phase.PRE_TRIP for s in before_gate)
    assert after_gate and all(s.progress.phase is Phase.ON_ROUTE for s in after_gate)
    assert len(after_gate) == 3
    assert after_gate[0].progress.distance_m == pytest.approx(160 * 15, abs=5)
    distances = [s.progress.distance_m for s in after_gate]
    assert distances == sorted(distances)
    # Parked beyond its first stop after the gate, the same bus would be laying over;
    # driving there after the gate, it may be repositioning to a layover on the route.
    parked = drive(STRAIGHT, [fix(-900, 0, 0, speed=0.0), fix(-200, 1900, 0, speed=0.0)])
    assert parked[-1].progress.phase is Phase.PRE_TRIP
    repositioning = drive(
        STRAIGHT, [fix(-900, 0, 0, speed=0.0), fix(-240, 250, 0, speed=8.0, bearing=90)]
    )
    assert repositioning[-1].progress.phase is Phase.PRE_TRIP


def test_a_departure_undone_by_driving_back_returns_to_pre_trip():
    steps = drive(
        STRAIGHT,
        [
            fix(0, 3, 0, speed=0.0),
            fix(30, 300, 0, bearing=90),
            fix(60, 100, 0, speed=9.0, bearing=270),
        ],
        config=WMATA,
    )
    assert steps[1].progress.phase is Phase.ON_ROUTE
    assert steps[2].progress.phase is Phase.PRE_TRIP


def test_pre_trip_before_the_scheduled_start_is_not_on_route():
    step = drive(STRAIGHT, [fix(-1800, 1200, 0, bearing=90)])[0]
    assert step.progress.phase is Phase.PRE_TRIP
    assert (step.progress.status, step.progress.stop_sequence) == (StopStatusCode.STOPPED_AT, 2)


def test_an_older_fix_changes_nothing():
    steps = drive(STRAIGHT, [fix(0, 200, 0), fix(30, 600, 0), fix(20, 900, 0)])
    assert steps[2].state == steps[1].state


def test_state_round_trips_through_redis_strings_and_tolerates_damage():
    state = drive(STRAIGHT, [fix(0, 200, 0), fix(30, 990, 0, speed=0.0)])[-1].state
    raw = state.to_redis()
    assert all(isinstance(k, str) and isinstance(v, str) for k, v in raw.items())
    assert MatchState.from_redis(raw, scheduled_start=START) == state
    damaged = {**raw, "distance_m": "nan", "phase": "flying", "events_through": "x"}
    restored = MatchState.from_redis(damaged, scheduled_start=START)
    assert (
        dataclasses.replace(
            restored,
            distance_m=state.distance_m,
            phase=state.phase,
            events_through=state.events_through,
        )
        == state
    )
    assert restored.phase is Phase.PRE_TRIP
    assert MatchState.from_redis({}, scheduled_start=START) == MatchState(scheduled_start=START)


def test_noisy_fixes_of_a_bus_creeping_in_the_zone_do_not_make_it_leave():
    # WMATA zone (±50 m). Fixes scattered ±20 m (the run's noise, learnt on the way in);
    # the bus creeps 30 m past stop 6 (at 1000 m), one fix landing beyond the zone's end.
    side = [15, -20, 18, -12, 22, -18, 20, -15, 17, -20, 19, -16]
    approach = [fix(20 * i, 80 * i, side[i], speed=4.0) for i in range(12)]
    along = [15, -20, 12, -12, 22, -18, 18, -15, 17, -20]
    creeping = [fix(270 + 30 * i, 1030 + a, side[i], speed=1.0) for i, a in enumerate(along)]
    steps = drive(STRAIGHT, approach + creeping, config=WMATA)
    assert {(s.progress.stop_sequence, s.progress.status) for s in steps[12:]} == {
        (6, StopStatusCode.STOPPED_AT)
    }
    assert 6 not in [e.stop_sequence for e in events_of(steps)]
    without_margin = drive(
        STRAIGHT, approach + creeping, config=dataclasses.replace(WMATA, departure_noise_factor=0)
    )
    assert 6 in [e.stop_sequence for e in events_of(without_margin)]


def test_first_fix_of_a_bus_standing_on_its_route_before_the_start_is_pre_trip():
    standing = drive(STRAIGHT, [fix(-60, 800, 0, speed=0.0)])[0]
    driving = drive(STRAIGHT, [fix(-60, 800, 0, speed=9.0, bearing=90)])[0]
    assert standing.progress.phase is Phase.PRE_TRIP
    assert driving.progress.phase is Phase.ON_ROUTE
