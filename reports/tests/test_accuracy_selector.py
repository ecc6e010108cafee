"""The prediction-accuracy report on hand-built logs and stop events with known answers.

Each case writes PredictionLog rows and the StopEvents they are measured against into
the real PostgreSQL and reads the report through ``prediction_accuracy``: MAE, bias,
band shares, the bucket edges (by time to actual, lower edge included), the band's
inclusive ends, the benchmark's overall number, the filters and the unobserved count.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from realtime_engine.models import StopEvent
from reports.filters import ReportFilters
from reports.measures.accuracy import BUCKETS, bucket_of
from reports.models import PredictionLog
from reports.selectors.accuracy import prediction_accuracy
from runs.models import Run, Vehicle

pytestmark = pytest.mark.django_db

DAY = date(2026, 12, 1)
T0 = datetime(2026, 12, 1, 13, 0, tzinfo=UTC)  # 08:00 in New York
ZONE = "America/New_York"


def _run(trip_id: str, route_id: str = "R1", direction_id: int = 0) -> Run:
    vehicle, _ = Vehicle.objects.get_or_create(id="bus-1")
    return Run.objects.create(
        vehicle=vehicle,
        route_id=route_id,
        trip_id=trip_id,
        direction_id=direction_id,
        start_date=DAY,
    )


def _arrived(run: Run, sequence: int, at: datetime, stop_id: str = "") -> None:
    StopEvent.objects.create(
        run=run,
        trip_id=run.trip_id,
        service_date=run.start_date,
        stop_sequence=sequence,
        stop_id=stop_id or f"S{sequence}",
        arrived_at=at,
        source=StopEvent.Source.OBSERVED,
    )


def _predicted(
    run: Run,
    sequence: int,
    *,
    at: datetime,
    arrival: datetime,
    stop_id: str = "",
) -> None:
    PredictionLog.objects.create(
        predicted_at=at,
        trip_id=run.trip_id,
        route_id=run.route_id,
        direction_id=run.direction_id,
        start_date=run.start_date,
        start_time=run.start_time,
        stop_id=stop_id or f"S{sequence}",
        stop_sequence=sequence,
        vehicle_id=run.vehicle_id,
        predicted_arrival=arrival,
        horizon_s=int((arrival - at).total_seconds()),
    )


def _report(**narrowing):
    return prediction_accuracy(ReportFilters(DAY, DAY, **narrowing), timezone=ZONE)


def _bucket(report, label: str):
    (row,) = [row for row in report.by_bucket if row.bucket == label]
    return row


def test_mae_bias_and_band_share_of_one_bucket():
    run = _run("T1")
    arrived = T0 + timedelta(minutes=2)
    _arrived(run, 5, arrived)
    # Three predictions 2 min before the arrival: 20 s early (predicted after it came),
    # 60 s late, 100 s late. Errors +20, -60, -100: MAE 60, bias -46.67; the 0-3 min band
    # (-90..+30) holds the first two.
    for seconds_off, at in ((20, 0), (-60, 1), (-100, 2)):
        _predicted(
            run,
            5,
            at=T0 + timedelta(seconds=at),
            arrival=arrived + timedelta(seconds=seconds_off),
        )
    report = _report()
    row = _bucket(report, "0-3 min")
    assert row.count == 3
    assert row.mae_s == pytest.approx(60.0)
    assert row.bias_s == pytest.approx(-140 / 3)
    assert row.within_share == pytest.approx(2 / 3)
    assert (row.band_early_s, row.band_late_s) == (30, 90)
    assert report.predictions == 3 and report.unobserved == 0
    assert report.overall_accuracy == pytest.approx(2 / 3)


def test_buckets_go_by_time_to_actual_and_include_their_lower_edge():
    run = _run("T1")
    arrived = T0 + timedelta(hours=1)
    _arrived(run, 1, arrived)
    # Each prediction is exact, sampled so long before the arrival; the feed's own horizon
    # (here, exact too) plays no part.
    ahead = {179: "0-3 min", 180: "3-6 min", 359: "3-6 min", 360: "6-10 min"}
    ahead |= {600: "10-15 min", 899: "10-15 min", 900: "15+ min", 1700: "15+ min"}
    for seconds in ahead:
        _predicted(run, 1, at=arrived - timedelta(seconds=seconds), arrival=arrived)
    report = _report()
    counts = {row.bucket: row.count for row in report.by_bucket}
    expected: dict[str, int] = {}
    for label in ahead.values():
        expected[label] = expected.get(label, 0) + 1
    assert counts == expected
    assert all(bucket_of(s).label == label for s, label in ahead.items())
    beyond = _bucket(report, "15+ min")
    assert beyond.within_share is None and beyond.band_early_s is None
    assert beyond.mae_s == 0.0


def test_band_ends_are_inclusive_and_asymmetric():
    run = _run("T1")
    arrived = T0 + timedelta(hours=1)
    _arrived(run, 1, arrived)
    at = arrived - timedelta(minutes=4)  # 3-6 min: 60 s early .. 150 s late
    for off in (60, 61, -150, -151):
        _predicted(run, 1, at=at, arrival=arrived + timedelta(seconds=off))
    row = _bucket(_report(), "3-6 min")
    assert row.count == 4
    assert row.within_share == pytest.approx(0.5)
    assert row.bias_s == pytest.approx((60 + 61 - 150 - 151) / 4)


def test_overall_accuracy_is_the_plain_mean_of_the_banded_buckets():
    run = _run("T1")
    arrived = T0 + timedelta(hours=1)
    _arrived(run, 1, arrived)
    # 0-3 min: 1 of 1 accurate; 6-10 min: 1 of 4 accurate; beyond 15 min: ignored.
    _predicted(run, 1, at=arrived - timedelta(seconds=60), arrival=arrived)
    at = arrived - timedelta(minutes=8)
    for off in (0, 300, 300, 300):
        _predicted(run, 1, at=at, arrival=arrived + timedelta(seconds=off))
    _predicted(run, 1, at=arrived - timedelta(minutes=20), arrival=arrived + timedelta(hours=1))
    report = _report()
    assert report.overall_accuracy == pytest.approx((1.0 + 0.25) / 2)


def test_routes_days_and_hours_and_the_filters():
    morning, other = _run("T1", "R1", 0), _run("T2", "R2", 1)
    arrived = T0 + timedelta(minutes=2)
    _arrived(morning, 1, arrived, "A")
    _arrived(other, 1, arrived + timedelta(hours=2), "B")
    _predicted(morning, 1, at=T0, arrival=arrived + timedelta(seconds=10), stop_id="A")
    _predicted(
        other,
        1,
        at=T0 + timedelta(hours=2),
        arrival=arrived + timedelta(hours=2, seconds=-40),
        stop_id="B",
    )
    # Predicted, never observed: counted, in no bucket.
    _predicted(morning, 2, at=T0, arrival=arrived + timedelta(minutes=3))
    report = _report()
    assert report.predictions == 3 and report.unobserved == 1
    assert {(r.route_id, r.mae_s, r.bias_s) for r in report.by_route} == {
        ("R1", 10.0, 10.0),
        ("R2", 40.0, -40.0),
    }
    assert {(r.hour, r.count) for r in report.by_hour} == {(8, 1), (10, 1)}  # New York
    assert [(r.day, r.count) for r in report.by_day] == [(DAY, 2)]
    assert _bucket(report, "0-3 min").mae_s == pytest.approx(25.0)
    assert [r.route_id for r in _report(route_id="R2").by_route] == ["R2"]
    assert [r.route_id for r in _report(direction_id=0).by_route] == ["R1"]
    assert [r.route_id for r in _report(stop_id="B").by_route] == ["R2"]
    by_hour = _report(hour=8)
    assert [r.route_id for r in by_hour.by_route] == ["R1"] and by_hour.unobserved == 1
    assert _report(hour=9).predictions == 0


def test_a_service_date_outside_the_range_is_not_reported():
    run = _run("T1")
    _arrived(run, 1, T0 + timedelta(minutes=2))
    _predicted(run, 1, at=T0, arrival=T0 + timedelta(minutes=2))
    later = prediction_accuracy(
        ReportFilters(DAY + timedelta(days=1), DAY + timedelta(days=7)), timezone=ZONE
    )
    assert later.predictions == 0 and later.rows == () and later.overall_accuracy is None


def test_the_rows_are_flat_records_for_every_grouping():
    run = _run("T1")
    _arrived(run, 1, T0 + timedelta(minutes=2))
    _predicted(run, 1, at=T0, arrival=T0 + timedelta(minutes=2))
    report = _report()
    assert {row.group for row in report.rows} == {"bucket", "route", "day", "hour"}
    assert report.buckets == BUCKETS
