"""The simulator's pure planner: motion along a shape, dwell, terminal, load, clock, trip choice.

Plain pytest, no services. The last test hands the simulated fixes to the real pure
map-matcher and terminal condition, as the worker would, at a high speed-up.
"""

from __future__ import annotations

import datetime as dt

import pytest

from realtime_engine.simulation.clock import SimulationClock
from realtime_engine.simulation.motion import (
    LAYOVER_S,
    MAX_LEG_SPEED_MPS,
    MIN_DWELL_S,
    TERMINAL_DWELL_S,
    MotionPhase,
    motion_sample,
    shape_point,
    trip_motion,
)
from realtime_engine.simulation.occupancy import CAPACITY, load_profile
from realtime_engine.simulation.trips import DUE_LEAD_S, TripCandidate, trip_choose
from runs.domain.geometry import LocalProjection, Polyline, TripGeometry, stop_distances_along
from runs.domain.lifecycle.conditions import terminal_reached
from runs.domain.lifecycle.thresholds import DEFAULT_THRESHOLDS
from runs.domain.progression.config import DEFAULT
from runs.domain.progression.matching import Fix, match_position
from runs.domain.progression.state import MatchState
from runs.domain.progression.status import Phase
from runs.domain.telemetry.position import Position

PROJECTION = LocalProjection(45.52, -122.68)
# An L: 1,200 m north, then 800 m east; stops every 400 m (the corner is the 4th stop).
SHAPE = [(0.0, 0.0), (0.0, 1200.0), (800.0, 1200.0)]
STOPS_XY = [(0.0, 0.0), (0.0, 400.0), (0.0, 800.0), (0.0, 1200.0), (400.0, 1200.0), (800.0, 1200.0)]
# GTFS seconds: 60 s per leg, 20 s scheduled dwell, none at the ends.
SCHEDULED = [(0, 0), (60, 80), (140, 160), (220, 240), (300, 320), (380, 380)]


def l_shaped_trip() -> TripGeometry:
    line = Polyline.from_xy(SHAPE)
    return TripGeometry(
        trip_id="T-L",
        shape_id="L",
        projection=PROJECTION,
        polyline=line,
        stop_sequences=tuple(range(1, len(STOPS_XY) + 1)),
        stop_ids=tuple(f"S{i}" for i in range(len(STOPS_XY))),
        stop_distances_m=tuple(stop_distances_along(line, STOPS_XY)),
    )


def motion(seed: str = "1"):
    return trip_motion("T-L", l_shaped_trip(), SCHEDULED, seed=seed)


def test_the_vehicle_lays_over_at_the_first_stop_then_drives_forwards_along_the_shape():
    plan = motion()
    first = motion_sample(plan, 0)
    assert (first.phase, first.distance_m, first.speed_mps) == (MotionPhase.LAYOVER, 0.0, 0.0)
    assert plan.departure_s == LAYOVER_S
    samples = [motion_sample(plan, t) for t in range(int(plan.end_s) + 60)]
    distances = [s.distance_m for s in samples]
    assert distances == sorted(distances)  # never backwards
    assert max(s.speed_mps for s in samples) < MAX_LEG_SPEED_MPS * 1.6
    driving = [s for s in samples if s.phase is MotionPhase.DRIVING]
    assert driving and all(s.speed_mps > 0 for s in driving[1:])


def test_leg_times_follow_the_schedule_within_the_jitter():
    plan = motion()
    for (arrive, _), (_, depart), timing, before in zip(
        SCHEDULED[1:], SCHEDULED[:-1], plan.stops[1:], plan.stops[:-1], strict=True
    ):
        travel = timing.arrive_s - before.depart_s
        assert 0.9 * (arrive - depart) <= travel <= 1.15 * (arrive - depart)


def test_the_vehicle_dwells_at_each_stop_with_doors_open():
    plan = motion()
    for index, stop in enumerate(plan.stops[1:-1], start=1):
        assert stop.depart_s - stop.arrive_s >= 0.6 * max(20, MIN_DWELL_S)
        middle = motion_sample(plan, (stop.arrive_s + stop.depart_s) / 2)
        assert middle.phase is MotionPhase.DWELLING
        assert middle.speed_mps == 0.0
        assert middle.stop_index == index
        assert middle.distance_m == pytest.approx(400.0 * index)


def test_the_position_follows_the_shape_and_its_bearing():
    trip = l_shaped_trip()
    north = shape_point(trip, 600.0)
    x, y = PROJECTION.to_xy(north.latitude, north.longitude)
    assert (x, y) == (pytest.approx(0.0, abs=0.01), pytest.approx(600.0, abs=0.01))
    assert north.bearing_deg == pytest.approx(0.0)
    east = shape_point(trip, 1600.0)
    x, y = PROJECTION.to_xy(east.latitude, east.longitude)
    assert (x, y) == (pytest.approx(400.0, abs=0.01), pytest.approx(1200.0, abs=0.01))
    assert east.bearing_deg == pytest.approx(90.0)


def test_the_vehicle_reaches_the_terminal_and_stays_parked_there():
    plan = motion()
    assert plan.end_s - plan.arrival_s == TERMINAL_DWELL_S
    for t in (plan.arrival_s, plan.end_s, plan.end_s + 3600):
        sample = motion_sample(plan, t)
        assert sample.phase is MotionPhase.ARRIVED
        assert (sample.distance_m, sample.speed_mps) == (pytest.approx(2000.0), 0.0)
        assert sample.stop_index == len(STOPS_XY) - 1


def test_the_plan_is_deterministic_given_the_seed():
    assert motion("a") == motion("a")
    assert motion("a").stops != motion("b").stops


def test_a_leg_without_scheduled_time_is_driven_at_cruise_speed():
    flat = [(0, 0)] * len(SCHEDULED)  # every time equal (rounded to the minute)
    plan = trip_motion("T-L", l_shaped_trip(), flat, seed="1")
    travel = plan.stops[1].arrive_s - plan.stops[0].depart_s
    assert 400 / 9.0 * 0.9 <= travel <= 400 / 9.0 * 1.15


def test_stop_times_must_match_the_stops():
    with pytest.raises(ValueError, match="6 stops"):
        trip_motion("T-L", l_shaped_trip(), SCHEDULED[:3], seed="1")


def test_the_load_varies_along_the_trip_and_empties_at_the_terminal():
    loads = load_profile(12, seed="bus-7")
    assert len(loads) == 12
    assert loads[-1] == 0
    assert all(0 <= load <= CAPACITY for load in loads)
    assert len(set(loads)) > 3
    assert load_profile(12, seed="bus-7") == loads
    assert load_profile(12, seed="bus-8") != loads


def test_the_clock_keeps_timestamps_at_or_behind_wall_time_and_scales_speeds():
    clock = SimulationClock(wall_start=1_780_000_000.0, speedup=30)
    assert clock.wall_at(45) == 1_780_000_001.5
    assert clock.timestamp_at(45) == 1_780_000_001
    assert clock.timestamp_at(29) == 1_780_000_000  # 0.97 s after the start
    assert clock.reported_speed(4.0) == 120.0
    assert clock.reported_speed(10.0) == 150.0  # capped at the ingress bound, not refused
    assert clock.sim_duration(2.0) == 60.0
    assert clock.sim_at(clock.wall_at(123)) == pytest.approx(123)
    with pytest.raises(ValueError):
        SimulationClock(wall_start=0, speedup=0)


def candidate(trip_id, departs_in_s, *, now=1_000_000.0, duration=600.0, origin=None):
    return TripCandidate(
        trip_id,
        dt.date(2026, 11, 22),
        "08:00:00",
        now + departs_in_s,
        now + departs_in_s + duration,
        origin,
    )


def test_a_free_vehicle_takes_the_trip_running_now_or_next_and_skips_claimed_ones():
    now = 1_000_000.0
    trips = [
        candidate("ended", -3600),
        candidate("running", -120),
        candidate("next", 60),
        candidate("later", DUE_LEAD_S + 600),
    ]
    # Under way first (the bus runs late rather than laying over), then the next due one.
    assert trip_choose(trips, now=now, busy=set()).trip_id == "running"
    assert trip_choose(trips, now=now, busy={"running"}).trip_id == "next"
    assert trip_choose(trips, now=now, busy={"next", "running"}).trip_id == "later"
    assert trip_choose(trips, now=now, busy={t.trip_id for t in trips}) is None


def test_a_trip_instance_already_run_is_not_taken_again():
    now = 1_000_000.0
    done, next_one = candidate("T1", -30), candidate("T2", 300)
    assert trip_choose([done, next_one], now=now, busy=(), taken={done.key}) == next_one
    # The same trip on another service day (or at another start time) is another instance.
    other_day = TripCandidate("T1", dt.date(2026, 11, 23), "08:00:00", now, now + 600)
    assert trip_choose([other_day], now=now, busy=(), taken={done.key}) == other_day


def test_a_vehicle_at_a_terminal_prefers_a_due_trip_starting_there():
    here = (45.52, -122.68)
    trips = [
        candidate("elsewhere", 10, origin=(45.60, -122.60)),
        candidate("from-here", DUE_LEAD_S - 20, origin=(45.5205, -122.6805)),
    ]
    assert trip_choose(trips, now=1_000_000.0, busy=(), near=here).trip_id == "from-here"
    assert trip_choose(trips, now=1_000_000.0, busy=()).trip_id == "elsewhere"


def test_at_a_high_speed_up_the_matcher_follows_the_vehicle_and_the_terminal_is_detected():
    """What the worker sees: one fix per simulated second, timestamps in wall seconds."""
    trip = l_shaped_trip()
    plan = motion()
    clock = SimulationClock(wall_start=1_780_000_000.0, speedup=30)
    state = MatchState(scheduled_start=clock.wall_start)
    reached, matched = [], 0
    for t in range(int(plan.end_s) + 1):
        sample = motion_sample(plan, t)
        point = shape_point(trip, sample.distance_m)
        fix = Fix(
            clock.timestamp_at(t),
            point.latitude,
            point.longitude,
            clock.reported_speed(sample.speed_mps),
            point.bearing_deg,
        )
        step = match_position(trip, state, fix, DEFAULT)
        state = step.state
        if state.phase is Phase.ON_ROUTE and state.matched_at != matched:
            # A fix newer than the last one used (one per timestamp second) is followed.
            assert not state.off_route
            assert state.distance_m == pytest.approx(sample.distance_m, abs=30.0)
            matched = state.matched_at
        position = Position(
            "V1",
            point.latitude,
            point.longitude,
            fix.timestamp,
            fix.timestamp,
            point.bearing_deg,
            fix.speed_mps,
        )
        reached.append(terminal_reached(trip, position, DEFAULT_THRESHOLDS, state.max_distance_m))
    assert state.phase is Phase.ON_ROUTE
    assert state.distance_m == pytest.approx(2000.0, abs=30.0)
    assert reached[-1] and not any(reached[: int(plan.stops[-2].depart_s)])
