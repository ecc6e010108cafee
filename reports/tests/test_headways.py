"""Headway regularity: observed headways between consecutive vehicles at a stop, their
coefficient of variation and bunching, known answers (pure and through PostgreSQL)."""

from __future__ import annotations

import math

import pytest

from reports.filters import ReportFilters
from reports.measures.headways import Headway, Moments, headway_tally
from reports.selectors.headways import headway_report
from reports.tests.test_on_time_network import DAY, Network


def test_cv_is_the_population_stdev_over_the_mean():
    moments = Moments()
    for observed in (300, 600, 900):
        moments.add(Headway("R", 0, "S", observed, 600, 8))
    assert moments.mean_s == 600
    assert moments.cv == pytest.approx(math.sqrt(60_000) / 600)  # stdev 244.9
    assert Moments().cv is None


def test_bunching_is_under_a_quarter_of_the_schedule():
    assert Headway("R", 0, "S", 149, 600, 8).bunched
    assert not Headway("R", 0, "S", 150, 600, 8).bunched
    tally = headway_tally(
        [Headway("R", 0, "S", 100, 600, 8), Headway("R", 0, "S", 700, 600, 8),
         Headway("R", 1, "S", 100, 600, 8)]
    )  # fmt: skip
    assert tally[("R", 0, "S")].bunched == 1 and tally[("R", 0, "S")].count == 2


@pytest.mark.django_db
def test_observed_headways_of_a_frequent_route():
    net = Network()
    # Four trips 10 min apart at S1 (08:00, 08:10, 08:20, 08:30), S2 5 min later.
    for n in range(4):
        t = f"08:{n * 10:02d}:00"
        t2 = f"08:{n * 10 + 5:02d}:00"
        net.trip(f"F{n}", [("S1", t, t), ("S2", t2, t2)])
    # Arrivals at S1: on time, +4 min, +5 min (bunched behind: 60 s), on time.
    for n, delay in enumerate((0, 240, 300, 0)):
        net.calls(net.run(f"F{n}"), {1: (delay, delay), 2: (delay, None)})
    # A route whose scheduled headway (30 min) is beyond the frequent bound: no headways.
    net.trip("X0", [("S1", "08:00:00", "08:00:00"), ("S2", "08:05:00", "08:05:00")])
    net.trip("X1", [("S1", "08:30:00", "08:30:00"), ("S2", "08:35:00", "08:35:00")])
    net.calls(net.run("X0", route_id="RX"), {1: (0, 0), 2: (0, None)})
    net.calls(net.run("X1", route_id="RX"), {1: (0, 0), 2: (0, None)})

    report = headway_report(ReportFilters(DAY, DAY))
    rows = {(r["route_id"], r["stop_id"]): r for r in report.rows}
    assert set(rows) == {("R1", "S1"), ("R1", "S2")}
    s1 = rows[("R1", "S1")]
    # Headways 840, 660, 300 s against 600 each.
    assert s1["headways"] == 3 and s1["mean_headway_s"] == 600
    mean = 600
    stdev = math.sqrt(((840 - mean) ** 2 + (660 - mean) ** 2 + (300 - mean) ** 2) / 3)
    assert s1["cv"] == pytest.approx(stdev / mean)
    assert s1["bunched"] == 0  # 300 s is half the schedule, not under a quarter
    route = next(r for r in report.routes if r["route_id"] == "R1")
    assert route["headways"] == 6 and route["stop_id"] == ""

    assert headway_report(ReportFilters(DAY, DAY, stop_id="S2")).rows[0]["headways"] == 3
    assert headway_report(ReportFilters(DAY, DAY, hour=9)).rows == []


@pytest.mark.django_db
def test_a_bunched_pair_is_counted():
    net = Network()
    net.trip("B0", [("S1", "07:00:00", "07:00:00")])
    net.trip("B1", [("S1", "07:08:00", "07:08:00")])
    net.calls(net.run("B0"), {1: (400, None)})  # 07:06:40
    net.calls(net.run("B1"), {1: (0, None)})  # 07:08:00: 80 s behind, under 120 s (25 %)
    row = headway_report(ReportFilters(DAY, DAY)).rows[0]
    assert (row["headways"], row["bunched"], row["bunched_share"]) == (1, 1, 1.0)
    assert row["scheduled_mean_headway_s"] == 480
