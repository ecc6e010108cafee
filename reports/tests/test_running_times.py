"""Running times: nearest-rank percentiles of whole-second histograms (pure), and trips
and segments observed against scheduled over hand-built stop events."""

from __future__ import annotations

import pytest

from reports.filters import ReportFilters
from reports.measures.percentiles import histogram, percentile
from reports.selectors.running_times import running_time_report
from reports.tests.test_on_time_network import DAY, Network


def test_nearest_rank_percentiles():
    values = histogram([15, 20, 35, 40, 50])
    assert [percentile(values, p) for p in (5, 30, 40, 50, 100)] == [15, 20, 20, 35, 50]
    assert percentile(histogram([]), 50) is None
    assert histogram([1.4, 1.6]) == {1: 1, 2: 1}


@pytest.mark.django_db
def test_trips_and_segments_observed_against_scheduled():
    net = Network()
    stops = [("S1", "08:00:00", "08:00:00"), ("S2", "08:10:00", "08:11:00"),
             ("S3", "08:20:00", "08:20:00")]  # fmt: skip
    net.trip("T", stops)
    # Segment S1→S2 takes 600 s scheduled; S2→S3 540 s (dwell 60 s at S2).
    for delays in [
        {1: (0, 0), 2: (60, 90), 3: (120, None)},  # 660, 570; trip 1320
        {1: (0, 10), 2: (0, 0), 3: (0, None)},  # 590, 540; trip 1190
        {1: (0, 0), 2: (300, 300), 3: (600, None)},  # 900, 840; trip 1800
    ]:
        net.calls(net.run("T"), delays)
    # A run that did not record its first stop: its segments count, its trip does not.
    net.calls(net.run("T"), {2: (0, 0), 3: (0, None)})

    report = running_time_report(ReportFilters(DAY, DAY))
    (trip,) = report.trips
    assert (trip["count"], trip["observed_p50_s"], trip["observed_p90_s"]) == (3, 1320, 1800)
    assert trip["scheduled_p50_s"] == 1200
    segments = {(r["from_stop_id"], r["to_stop_id"]): r for r in report.segments}
    assert segments["S1", "S2"]["count"] == 3
    assert segments["S1", "S2"]["observed_p50_s"] == 660
    assert segments["S1", "S2"]["scheduled_p50_s"] == 600
    assert segments["S2", "S3"]["count"] == 4
    assert segments["S2", "S3"]["observed_p95_s"] == 840
    assert segments["S2", "S3"]["scheduled_p50_s"] == 540

    at_s3 = running_time_report(ReportFilters(DAY, DAY, stop_id="S3"))
    assert at_s3.trips == [] and [r["from_stop_id"] for r in at_s3.segments] == ["S2"]
    assert running_time_report(ReportFilters(DAY, DAY, hour=7)).rows == []


@pytest.mark.django_db
def test_segments_come_in_the_order_runs_meet_them():
    net = Network()
    net.trip("T", [("Z", "08:00:00", "08:00:00"), ("A", "08:05:00", "08:05:00"),
                   ("M", "08:10:00", "08:10:00")])  # fmt: skip
    net.calls(net.run("T"), {1: (0, 0), 2: (0, 0), 3: (0, None)})
    segments = running_time_report(ReportFilters(DAY, DAY)).segments
    assert [(r["from_stop_id"], r["to_stop_id"]) for r in segments] == [("Z", "A"), ("A", "M")]
