"""The demo day's planner and samplers, pure: blocks, the fleet cap, timepoints, positions
along a run, predictions whose error grows with the horizon."""

from __future__ import annotations

import dataclasses
import datetime as dt
import itertools
import random
import statistics

from reports.demo_history import day
from reports.demo_history.day import TURNAROUND_S, TripToRun, day_plan
from reports.demo_history.samples import parked, positions, predictions
from runs.domain.tests.domain_values import NOW, straight_trip_geometry

LEG_S, DWELL_S = 180.0, 20.0
SEEDS = [f"seed-{n}" for n in range(12)]


def trip(trip_id: str, departure: float, *, block: str = "") -> TripToRun:
    geometry = straight_trip_geometry(trip_id)
    scheduled, at = [], departure
    for i in range(len(geometry.stop_ids)):
        if i:
            at += LEG_S
        scheduled.append((at, at + (DWELL_S if i else 0.0)))
        at += DWELL_S if i else 0.0
    return TripToRun(
        trip_id=trip_id,
        route_id="R1",
        direction_id=0,
        shape_id="SH1",
        service_date=dt.date(2026, 6, 1),
        start_time="08:00:00",
        block_id=block,
        local_hour=8,
        headway_s=None,
        headway_based=False,
        geometry=geometry,
        scheduled=tuple(scheduled),
        timepoints=(True,) * len(geometry.stop_ids),
    )


def test_a_blocks_trips_run_on_one_vehicle_and_a_late_arrival_delays_the_next():
    first = trip("A", NOW, block="B1")
    # Due to leave 30 s after the first is due in: never possible with a turnaround.
    following = trip("B", first.scheduled[-1][0] + 30, block="B1")
    for seed in SEEDS:
        runs = day_plan([first, following], seed=seed, until=NOW + 86_400)
        assert [r.trip.trip_id for r in runs] == ["A", "B"]
        assert runs[0].vehicle_number == runs[1].vehicle_number
        left = runs[1].taken_at + runs[1].motion.departure_s
        assert left >= runs[0].taken_at + runs[0].motion.end_s + TURNAROUND_S


def test_a_fleet_cap_leaves_the_trips_no_vehicle_is_free_for():
    trips = [trip(name, NOW) for name in "ABC"]

    capped = day_plan(trips, seed="s", until=NOW + 86_400, vehicles=2)
    assert len(capped) == 2
    assert len({r.vehicle_number for r in capped}) == 2
    grown = day_plan(trips, seed="s", until=NOW + 86_400)
    assert sorted(r.vehicle_number for r in grown) == [1, 2, 3]


def test_a_run_not_ended_by_then_is_left_out():
    late = trip("LATE", NOW + 3_600)
    runs = day_plan([trip("A", NOW), late], seed="s", until=NOW + 3_000)
    assert [r.trip.trip_id for r in runs] == ["A"]


def test_a_driver_who_holds_never_leaves_a_timepoint_early(monkeypatch):
    monkeypatch.setattr(day, "RUNS_HOT_SHARE", 0.0)
    monkeypatch.setitem(day.TRAFFIC_BY_HOUR, 8, 0.7)  # an empty road: ahead all the way
    planned = trip("A", NOW)
    for seed in SEEDS:
        (run,) = day_plan([planned], seed=seed, until=NOW + 86_400)
        times = run.stop_times()
        for (_, left), (_, due) in zip(times[1:-1], planned.scheduled[1:-1], strict=True):
            assert left >= due - 1e-6


def test_positions_follow_the_run_and_stop_in_its_signal_gap():
    (run,) = day_plan([trip("A", NOW)], seed="s", until=NOW + 86_400)
    run = dataclasses.replace(run, signal_gap=(run.taken_at + 200, run.taken_at + 400))
    samples = positions(run, every_s=30, rng=random.Random(1))
    stamps = [p.timestamp for p in samples]
    assert stamps == sorted(stamps)
    assert not [t for t in stamps if run.taken_at + 200 <= t < run.taken_at + 400]
    assert stamps[-1] == round(run.ended_at, 3)
    assert all(p.received_at > p.timestamp for p in samples)
    odometers = [p.odometer for p in samples]
    assert odometers == sorted(odometers)


def test_a_vehicle_between_two_runs_reports_standing_at_the_terminal():
    first, following = day_plan(
        [trip("A", NOW), trip("B", NOW + 1_200)], seed="s", until=NOW + 86_400
    )
    assert first.vehicle_number == following.vehicle_number
    standing = parked(first, following, every_s=30, rng=random.Random(1))
    assert standing
    assert all(first.ended_at < p.timestamp < following.taken_at for p in standing)
    assert {p.speed for p in standing} == {0.0}


def test_predictions_lie_ahead_and_grow_less_accurate_with_the_horizon():
    trips = [trip(f"T{n}", NOW + 900 * n) for n in range(40)]
    errors: dict[str, list[float]] = {"near": [], "far": []}
    for run in day_plan(trips, seed="s", until=NOW + 86_400):
        arrivals = [arrival for arrival, _ in run.stop_times()]
        for p in predictions(
            run, every_s=60, max_horizon_s=1800, rng=random.Random(run.trip.trip_id)
        ):
            assert 0 < p.horizon_s <= 1800
            assert p.predicted_at < arrivals[p.stop_index]  # the stop was still ahead
            error = p.predicted_arrival - arrivals[p.stop_index]
            ahead = arrivals[p.stop_index] - p.predicted_at
            if ahead < 180:
                errors["near"].append(abs(error))
            elif ahead >= 480:
                errors["far"].append(abs(error))
    assert statistics.mean(errors["far"]) > 2 * statistics.mean(errors["near"])


def test_the_same_seed_plans_the_same_day():
    trips = [trip(f"T{n}", NOW + 600 * n) for n in range(6)]
    plans = [day_plan(trips, seed="same", until=NOW + 86_400) for _ in range(2)]
    assert [r.stop_times() for r in plans[0]] == [r.stop_times() for r in plans[1]]
    other = day_plan(trips, seed="other", until=NOW + 86_400)
    assert [r.stop_times() for r in other] != [r.stop_times() for r in plans[0]]
    assert all(a.taken_at <= b.taken_at for a, b in itertools.pairwise(plans[0]))
