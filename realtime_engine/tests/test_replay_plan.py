"""The replay planner (pure) on constructed pings and on the real WMATA trace."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from realtime_engine.replay.plan import (
    EndReason,
    EndRun,
    Publish,
    ReplayClock,
    SkipReason,
    StartRun,
    plan_replay,
    replay_clock,
    select_pings,
)
from realtime_engine.replay.trace import TraceError, TracePing, parse_trace, read_trace

DAY = dt.date(2026, 2, 16)


def ping(vehicle: str, trip: str, at: int, speed: float | None = 5.0) -> TracePing:
    return TracePing(
        vehicle, f"bus {vehicle}", trip, "R", 0, DAY, "10:00:00", 38.9, -77.0, 90.0, speed, at
    )


def kinds(plan) -> list[tuple]:
    out = []
    for step in plan.steps:
        if isinstance(step, Publish):
            out.append(("publish", step.at, step.ping.vehicle_id))
        elif isinstance(step, StartRun):
            out.append(("start", step.at, step.run.vehicle_id, step.run.trip_id))
        else:
            out.append(("end", step.at, step.run.vehicle_id, step.run.trip_id, step.reason))
    return out


def test_a_run_starts_just_before_its_first_ping_and_the_vehicle_ends_it_for_its_next_trip():
    plan = plan_replay([ping("A", "T1", 100), ping("A", "T1", 130), ping("A", "T2", 160)])
    assert kinds(plan) == [
        ("start", 100, "A", "T1"),
        ("publish", 100, "A"),
        ("publish", 130, "A"),
        ("end", 160, "A", "T1", EndReason.NEXT_TRIP),
        ("start", 160, "A", "T2"),
        ("publish", 160, "A"),
    ]


def test_a_trip_handed_to_another_vehicle_mid_route_ends_the_first_run():
    plan = plan_replay(
        [ping("A", "T1", 100), ping("A", "T1", 130), ping("B", "T1", 140), ping("B", "T1", 170)]
    )
    assert [k for k in kinds(plan) if k[0] != "publish"] == [
        ("start", 100, "A", "T1"),
        ("end", 140, "A", "T1", EndReason.HANDOVER),
        ("start", 140, "B", "T1"),
    ]


def test_a_trip_not_running_on_its_service_day_gets_no_run_but_its_pings_are_published():
    plan = plan_replay(
        [ping("A", "WEEKDAY", 100), ping("B", "HOLIDAY", 100)],
        trip_in_service=lambda trip_id, day: trip_id == "HOLIDAY" and day == DAY,
    )
    assert [r.trip_id for r in plan.runs] == ["HOLIDAY"]
    assert plan.skipped == {"WEEKDAY": SkipReason.NOT_IN_SERVICE}
    assert sorted(s.ping.vehicle_id for s in plan.steps if isinstance(s, Publish)) == ["A", "B"]


def test_duplicate_pings_count_once_in_a_run():
    plan = plan_replay([ping("A", "T1", 100), ping("A", "T1", 100), ping("A", "T1", 130)])
    assert plan.runs[0].pings == 2


def test_select_keeps_the_chosen_trips_in_time_order_up_to_the_limit():
    pings = [ping("A", "T1", 300), ping("B", "T2", 100), ping("C", "T3", 200)]
    chosen = select_pings(pings, trips=frozenset({"T1", "T3"}), limit=1)
    assert [(p.vehicle_id, p.timestamp) for p in chosen] == [("C", 200)]


def test_the_clock_shifts_to_the_start_and_compresses_time_with_speeds_scaled():
    clock = ReplayClock(trace_start=1_000, wall_start=1_771_000_000.0, speed=30.0)
    payload = clock.payload(ping("A", "T1", 1_300, speed=4.0))
    assert payload == {
        "latitude": 38.9,
        "longitude": -77.0,
        "bearing": 90.0,
        "speed": 120.0,
        "timestamp": 1_771_000_010,
    }
    assert "speed" not in clock.payload(ping("A", "T1", 1_000, speed=None))
    # A scaled speed past the ingress bound (150 m/s) is capped, not dead-lettered.
    assert clock.payload(ping("A", "T1", 1_300, speed=28.6))["speed"] == 150.0


NEW_YORK = ZoneInfo("America/New_York")


def local(day: dt.date, hour: int, minute: int = 0) -> int:
    return int(dt.datetime.combine(day, dt.time(hour, minute), tzinfo=NEW_YORK).timestamp())


def trace_plan(first: tuple[int, int], last: tuple[int, int]):
    """One bus on one trip of the trace's day, from ``first`` to ``last`` (local h, m)."""
    return plan_replay([ping("A", "T1", local(DAY, *first)), ping("A", "T1", local(DAY, *last))])


def test_without_start_now_the_replay_waits_for_the_trace_start_time_of_day_on_today():
    plan = trace_plan((10, 58), (15, 59))
    now = local(dt.date(2026, 12, 1), 9, 48)
    clock = replay_clock(plan, now, start_now=False, speed=1.0, tz=NEW_YORK)
    # Today at 10:58 local, the recorded day mapped onto today: the schedule matches.
    assert clock.wall_start == local(dt.date(2026, 12, 1), 10, 58)
    assert clock.service_date(DAY) == dt.date(2026, 12, 1)
    later = replay_clock(plan, now + 3 * 3600, start_now=False, speed=1.0, tz=NEW_YORK)
    assert later.wall_start == local(dt.date(2026, 12, 2), 10, 58)
    assert later.service_date(DAY) == dt.date(2026, 12, 2)


def test_with_start_now_the_runs_are_todays_once_the_trace_time_of_day_has_come():
    plan = trace_plan((10, 58), (11, 6))
    now = local(dt.date(2026, 12, 1), 15, 10)
    clock = replay_clock(plan, now, start_now=True, speed=30.0, tz=NEW_YORK)
    assert clock.wall_start == now
    assert clock.service_date(DAY) == dt.date(2026, 12, 1)


def test_with_start_now_a_replayed_bus_is_never_ahead_of_its_schedule():
    # At 09:48 the trace's 10:58 has not come yet today: yesterday's runs, late not early.
    early = replay_clock(
        trace_plan((10, 58), (11, 6)),
        local(dt.date(2026, 12, 1), 9, 48),
        start_now=True,
        speed=1.0,
        tz=NEW_YORK,
    )
    assert early.service_date(DAY) == dt.date(2026, 11, 30)
    # Five hours at speed 10 take 30 min: at 12:00 the 15:59 ping would be hours early today.
    plan = trace_plan((10, 58), (15, 59))
    compressed = replay_clock(
        plan, local(dt.date(2026, 12, 1), 12, 0), start_now=True, speed=10.0, tz=NEW_YORK
    )
    assert compressed.service_date(DAY) == dt.date(2026, 11, 30)
    last_at = compressed.wall_at(plan.end_at)
    assert last_at >= local(compressed.service_date(DAY), 15, 59)


def test_an_unreadable_row_names_its_line():
    text = [
        "vehicle.vehicle.id,id,vehicle.trip.trip_id,vehicle.trip.start_date,"
        "vehicle.position.latitude,vehicle.position.longitude,vehicle.timestamp\n",
        "1,1,T,20260216,38.9,-77.0,1771257515\n",
        "2,2,T,20260216,north,-77.0,1771257515\n",
    ]
    with pytest.raises(TraceError, match="line 3"):
        list(parse_trace(text))


def test_the_wmata_trace_plans_its_handover_and_mid_trip_appearances(fixtures_dir):
    pings = read_trace(fixtures_dir / "wmata" / "avl.csv")
    plan = plan_replay(pings)
    assert len([s for s in plan.steps if isinstance(s, Publish)]) == 20_777
    # Trip 5516100 changes vehicle mid-route: 2852 drives it first, 1041 takes over.
    handover = [s for s in plan.steps if isinstance(s, EndRun) and s.reason is EndReason.HANDOVER]
    assert [(s.run.trip_id, s.run.vehicle_id) for s in handover] == [("5516100", "2852")]
    takers = [r.vehicle_id for r in plan.runs if r.trip_id == "5516100"]
    assert takers == ["2852", "1041"]
    # Every vehicle holds at most one run at a time, and every trip too.
    held_vehicles: dict[str, str] = {}
    held_trips: dict[str, str] = {}
    for step in plan.steps:
        if isinstance(step, EndRun):
            held_vehicles.pop(step.run.vehicle_id, None)
            held_trips.pop(step.run.trip_id, None)
        elif isinstance(step, StartRun):
            assert step.run.vehicle_id not in held_vehicles
            assert step.run.trip_id not in held_trips
            held_vehicles[step.run.vehicle_id] = step.run.key
            held_trips[step.run.trip_id] = step.run.key
    assert {r.start_date for r in plan.runs} == {DAY}
