"""On-time performance: the agency window's edges (pure), and the report over hand-built
stop events in PostgreSQL: shares by route, stop and hour, the terminal's arrival, a
frequency-based instance's shifted schedule, and the filters."""

from __future__ import annotations

import pytest

from reports.filters import ReportFilters
from reports.measures.on_time import Adherence, Window, classify
from reports.selectors.on_time import on_time_report
from reports.tests.test_on_time_network import DAY, Network

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("deviation", "expected"),
    [
        (-61, Adherence.EARLY),
        (-60, Adherence.ON_TIME),
        (0, Adherence.ON_TIME),
        (300, Adherence.ON_TIME),
        (300.5, Adherence.LATE),
        (301, Adherence.LATE),
    ],
)
def test_the_window_includes_its_bounds(deviation, expected):
    assert classify(deviation, Window(60, 300)) is expected


def build() -> Network:
    net = Network()
    stops = [("S1", "08:00:00", "08:00:30"), ("S2", "08:10:00", "08:10:30"),
             ("S3", "08:20:00", "08:20:30"), ("S4", "09:05:00", "09:05:00")]  # fmt: skip
    net.trip("T1", stops)
    # T1 at 08:00: S1 early (-90 s departure), S2 on time (+300), S3 late (+301),
    # S4 (terminal, 09h) judged by its arrival: +30 s on time although no departure.
    net.calls(net.run("T1"), {1: (-100, -90), 2: (200, 300), 3: (301, 301), 4: (30, None)})
    # The same trip as a frequency instance 30 min later: on time everywhere once shifted.
    net.calls(
        net.run("T1", start_time="08:30:00"), {1: (0, 0), 2: (0, 10), 3: (-60, -60), 4: (0, None)}
    )
    # Another route: one late departure.
    net.trip("T2", [("S1", "08:05:00", "08:05:00"), ("S9", "08:15:00", "08:15:00")])
    net.calls(net.run("T2", route_id="R2", direction_id=1), {1: (400, 400), 2: (0, None)})
    return net


def rows(report, dimension):
    return {row["key"]: (row["early"], row["on_time"], row["late"]) for row in report.by(dimension)}


def test_shares_by_route_stop_and_hour():
    build()
    report = on_time_report(ReportFilters(DAY, DAY))
    assert report.total["departures"] == 10
    assert (report.total["early"], report.total["on_time"], report.total["late"]) == (1, 7, 2)
    assert report.total["late_share"] == pytest.approx(0.2)
    assert rows(report, "route") == {"R1": (1, 6, 1), "R2": (0, 1, 1)}
    assert rows(report, "stop") == {
        "S1": (1, 1, 1), "S2": (0, 2, 0), "S3": (0, 1, 1), "S4": (0, 2, 0), "S9": (0, 1, 0),
    }  # fmt: skip
    # Hours of the scheduled departure, local: T1's S4 at 09:05, the 08:30 instance's at 09:35.
    assert rows(report, "hour") == {"8": (1, 5, 2), "9": (0, 2, 0)}


def test_filters_narrow_the_report():
    build()
    by_route = on_time_report(ReportFilters(DAY, DAY, route_id="R2"))
    assert rows(by_route, "route") == {"R2": (0, 1, 1)}
    by_stop = on_time_report(ReportFilters(DAY, DAY, stop_id="S1"))
    assert rows(by_stop, "route") == {"R1": (1, 1, 0), "R2": (0, 0, 1)}
    by_hour = on_time_report(ReportFilters(DAY, DAY, hour=9))
    assert by_hour.total["on_time"] == 2 and by_hour.total["departures"] == 2
    by_direction = on_time_report(ReportFilters(DAY, DAY, direction_id=1))
    assert by_direction.total["departures"] == 2
    other_day = DAY.replace(day=29)
    assert on_time_report(ReportFilters(other_day, other_day)).total["departures"] == 0


def test_the_window_is_a_setting(settings):
    build()
    settings.REPORTS_ON_TIME_LATE_S = 600
    report = on_time_report(ReportFilters(DAY, DAY))
    assert (report.total["early"], report.total["on_time"], report.total["late"]) == (1, 9, 0)
