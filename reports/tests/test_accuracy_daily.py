"""The daily accuracy summaries: a summarized day reports as its raw log did, also after
the raw log was pruned; a re-run replaces; a stop narrows the report back to raw rows;
the beat task summarizes only the days that are over."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from django.test import override_settings
from django.utils import timezone

from reports.filters import ReportFilters
from reports.models import PredictionAccuracyDay, PredictionLog
from reports.prediction_log.daily import accuracy_summarize_day
from reports.prediction_log.tasks import summarize_prediction_accuracy
from reports.selectors.accuracy import prediction_accuracy
from reports.tests.test_accuracy_selector import _arrived, _predicted, _run

pytestmark = pytest.mark.django_db

DAY = date(2026, 12, 1)  # the selector tests' service day
T0 = datetime(2026, 12, 1, 13, 0, tzinfo=UTC)


def _day_of_predictions() -> None:
    one, two = _run("T1", "R1", 0), _run("T2", "R2", 1)
    for run, offset in ((one, 0), (two, 3600)):
        arrived = T0 + timedelta(seconds=offset + 600)
        for sequence in (1, 2, 3):
            _arrived(run, sequence, arrived + timedelta(minutes=sequence))
            for ahead, off in ((100, 20), (400, -150), (700, 95), (1200, 400)):
                at = arrived + timedelta(minutes=sequence) - timedelta(seconds=ahead)
                _predicted(
                    run, sequence, at=at, arrival=arrived + timedelta(minutes=sequence, seconds=off)
                )
        _predicted(run, 9, at=T0, arrival=T0 + timedelta(minutes=20))  # never observed


def _report(**narrowing):
    return prediction_accuracy(ReportFilters(DAY, DAY, **narrowing), timezone="UTC")


def test_a_summarized_day_reports_the_same_after_the_raw_log_is_gone():
    _day_of_predictions()
    raw = {name: _report(**narrowing) for name, narrowing in _narrowings()}
    written = accuracy_summarize_day(DAY)
    assert written == PredictionAccuracyDay.objects.count() > 0
    PredictionLog.objects.all().delete()  # pruned: only the summaries are left
    for name, narrowing in _narrowings():
        summarized = _report(**narrowing)
        assert summarized.rows == raw[name].rows, name
        assert summarized.predictions == raw[name].predictions
        assert summarized.unobserved == raw[name].unobserved
        assert summarized.overall_accuracy == raw[name].overall_accuracy
    # A stop has no summary: the report reads the raw log, which is gone.
    assert _report(stop_id="S1").predictions == 0


def _narrowings():
    return [
        ("all", {}),
        ("route", {"route_id": "R2"}),
        ("direction", {"direction_id": 0}),
        ("hour", {"hour": 13}),
    ]


def test_a_rerun_replaces_the_day_and_counts_what_changed():
    _day_of_predictions()
    accuracy_summarize_day(DAY)
    first = _report()
    PredictionLog.objects.filter(route_id="R2").delete()
    accuracy_summarize_day(DAY)
    again = _report()
    assert again.predictions < first.predictions
    assert {row.route_id for row in again.by_route} == {"R1"}
    assert accuracy_summarize_day(DAY) == PredictionAccuracyDay.objects.count()


@override_settings(REPORTS_SUMMARY_LAG_S=0)
def test_the_task_summarizes_the_days_that_are_over_only(monkeypatch):
    _day_of_predictions()
    # UTC agency (no feed): at 2026-12-02 01:00 the 1st is over, the 2nd is not.
    monkeypatch.setattr(timezone, "now", lambda: datetime(2026, 12, 2, 1, 0, tzinfo=UTC))
    done = summarize_prediction_accuracy.apply().get()
    assert "2026-12-01" in done and "2026-12-02" not in done
    assert done["2026-12-01"] == PredictionAccuracyDay.objects.count() > 0
