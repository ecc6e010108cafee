"""The daily summaries: a past day's reports read from RouteDaySummary equal the same
reports from its raw stop events; a re-run replaces; today stays raw; which days are due."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest

from reports.filters import ReportFilters
from reports.models import RouteDaySummary
from reports.selectors.days import raw_ranges
from reports.selectors.headways import headway_report
from reports.selectors.on_time import on_time_report
from reports.selectors.running_times import running_time_report
from reports.summaries import due_days, summarize_day
from reports.tasks import summarize_days
from reports.tests.test_on_time_network import DAY, TZ, Network
from schedule_engine.service_days import service_day_origin

DAY2 = DAY + dt.timedelta(days=1)
REPORTS = (on_time_report, headway_report, running_time_report)


def build() -> Network:
    net = Network()
    for n in range(5):
        t, t2, t3 = (f"{8 + (n * 7 + k) // 60:02d}:{(n * 7 + k) % 60:02d}:00" for k in (0, 9, 20))
        net.trip(f"T{n}", [("S1", t, t), ("S2", t2, t2), ("S3", t3, t3)])
    for day in (DAY, DAY2):
        for n in range(5):
            d = (n * 37 + day.day * 11) % 200 - 70
            net.calls(
                net.run(f"T{n}", day=day, direction_id=n % 2),
                {1: (d, d + 5), 2: (d * 2, d * 2 + 30), 3: (d * 3, None)},
            )
        net.calls(net.run("T0", day=day, route_id="R2", direction_id=None),
                  {1: (0, 0), 2: (400, 400), 3: (500, None)})  # fmt: skip
    return net


def reports(filters: ReportFilters) -> list:
    return [dataclasses.asdict(report(filters)) for report in REPORTS]


@pytest.mark.django_db
def test_summary_based_reports_equal_the_raw_ones():
    build()
    wide = ReportFilters(DAY, DAY2)
    by_route = ReportFilters(DAY, DAY2, route_id="R1", direction_id=1)
    raw = [reports(wide), reports(by_route)]
    assert summarize_day(DAY) == 3  # R1 in both directions, R2 without one
    assert summarize_day(DAY2) == 3
    assert RouteDaySummary.objects.count() == 6
    assert [reports(wide), reports(by_route)] == raw
    assert raw[0][0]["total"]["departures"] == 36


@pytest.mark.django_db
def test_a_rerun_replaces_and_a_summarized_day_is_read_from_the_summary():
    net = build()
    summarize_day(DAY)
    first = list(RouteDaySummary.objects.order_by("route_id", "direction_id").values())
    summarize_day(DAY)
    again = list(RouteDaySummary.objects.order_by("route_id", "direction_id").values())
    assert stripped(again) == stripped(first)
    # A stop event recorded after the summary: the report reads the summary until a re-run.
    net.calls(net.run("T4", day=DAY), {1: (1000, 1000)})
    assert on_time_report(ReportFilters(DAY, DAY)).total["late"] == first_late(first)
    # A narrowed report reads raw events, so it sees it.
    assert on_time_report(ReportFilters(DAY, DAY, stop_id="S1")).total["departures"] == 7
    summarize_day(DAY)
    assert on_time_report(ReportFilters(DAY, DAY)).total["late"] == first_late(first) + 1


def stripped(rows: list[dict]) -> list[dict]:
    return [{k: v for k, v in r.items() if k not in ("id", "summarized_at")} for r in rows]


def first_late(rows) -> int:
    return sum(row["late"] for row in rows)


@pytest.mark.django_db
def test_a_summary_counted_with_another_window_is_not_used(settings):
    build()
    summarize_day(DAY)
    settings.REPORTS_ON_TIME_LATE_S = 30
    raw = on_time_report(ReportFilters(DAY, DAY, stop_id="S2")).total
    assert on_time_report(ReportFilters(DAY, DAY)).by("stop")[1] == {
        **raw,
        "dimension": "stop",
        "key": "S2",
    }


def test_a_service_day_is_due_after_the_next_origin_and_the_lag():
    next_origin = service_day_origin(DAY + dt.timedelta(days=1), TZ)
    lag = dt.timedelta(hours=6)
    assert DAY not in due_days(next_origin + lag - dt.timedelta(seconds=1), TZ, 6 * 3600, 3)
    assert due_days(next_origin + lag, TZ, 6 * 3600, 3)[-1] == DAY
    days = due_days(next_origin + lag, TZ, 6 * 3600, 3)
    assert days == [DAY - dt.timedelta(days=2), DAY - dt.timedelta(days=1), DAY]


@pytest.mark.django_db
def test_the_beat_task_summarizes_the_days_that_are_over(settings, monkeypatch):
    build()
    now = service_day_origin(DAY2 + dt.timedelta(days=1), TZ) - dt.timedelta(hours=1)
    monkeypatch.setattr("reports.summaries.timezone.now", lambda: now)
    written = summarize_days.apply().get()
    # DAY2's day is not over an hour before the next origin; DAY is.
    assert written[DAY.isoformat()] == 3 and DAY2.isoformat() not in written
    assert set(RouteDaySummary.objects.values_list("service_date", flat=True)) == {DAY}


def test_raw_ranges_are_the_days_without_a_summary():
    d = [DAY + dt.timedelta(days=n) for n in range(6)]
    assert raw_ranges(d[0], d[5], frozenset()) == [(d[0], d[5])]
    assert raw_ranges(d[0], d[5], frozenset({d[0], d[2], d[3]})) == [(d[1], d[1]), (d[4], d[5])]
    assert raw_ranges(d[0], d[1], frozenset(d)) == []
    assert raw_ranges(dt.date.max, dt.date.max, frozenset()) == [(dt.date.max, dt.date.max)]
