"""The accuracy measure's definitions (pure), and the report's SQL agreeing with them on
random predictions: the query's buckets and bands are generated from ``BUCKETS``, and
this is what holds the two to one definition."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta

import pytest

from reports.filters import ReportFilters
from reports.measures.accuracy import (
    BUCKETS,
    BY_LABEL,
    Tally,
    bucket_of,
    merge,
    overall_accuracy,
    tally,
)
from reports.selectors.accuracy import prediction_accuracy
from reports.tests.test_accuracy_selector import _arrived, _predicted, _run


def test_the_transitapp_bands_with_their_ends():
    first = BY_LABEL["0-3 min"]
    # error = predicted - observed: +30 is the vehicle 30 s early, -90 it 90 s late.
    assert [first.within(e) for e in (-91, -90, 0, 30, 31)] == [False, True, True, True, False]
    assert (BY_LABEL["3-6 min"].early_s, BY_LABEL["3-6 min"].late_s) == (60, 150)
    assert (BY_LABEL["6-10 min"].early_s, BY_LABEL["6-10 min"].late_s) == (60, 210)
    assert (BY_LABEL["10-15 min"].early_s, BY_LABEL["10-15 min"].late_s) == (90, 270)
    assert not BY_LABEL["15+ min"].banded and not BY_LABEL["15+ min"].within(0)


def test_buckets_by_time_to_actual():
    labels = [bucket_of(s).label for s in (-5, 0, 179.9, 180, 599, 600, 899.9, 900, 5000)]
    assert labels == [
        "0-3 min",
        "0-3 min",
        "0-3 min",
        "3-6 min",
        "6-10 min",
        "10-15 min",
        "10-15 min",
        "15+ min",
        "15+ min",
    ]


def test_tallies_add_up_and_the_overall_number_is_an_unweighted_mean():
    first, second = BY_LABEL["0-3 min"], BY_LABEL["3-6 min"]
    a, b = tally([10, -100], first), tally([-20], first)
    merged = merge([("x", a), ("x", b), ("y", tally([500, 0, 0, 0], second))])
    assert merged["x"] == Tally(3, 130.0, -110.0, 2)
    assert merged["x"].mae_s == pytest.approx(130 / 3)
    assert merged["x"].bias_s == pytest.approx(-110 / 3)
    assert overall_accuracy({"0-3 min": merged["x"], "3-6 min": merged["y"]}) == pytest.approx(
        (2 / 3 + 3 / 4) / 2
    )
    assert overall_accuracy({"15+ min": tally([0], BY_LABEL["15+ min"])}) is None
    assert Tally().mae_s is None and Tally().within_share(first) is None


@pytest.mark.django_db
def test_the_report_query_agrees_with_the_measure_on_random_predictions():
    rng = random.Random(17)
    day = date(2026, 12, 1)
    base = datetime(2026, 12, 1, 15, 0, tzinfo=UTC)
    expected: dict[str, list[float]] = {}
    for n in range(4):
        run = _run(f"T{n}")
        for sequence in range(1, 31):
            arrived = base + timedelta(seconds=rng.randrange(0, 7200))
            _arrived(run, sequence, arrived)
            for _ in range(3):
                ahead = rng.choice([0, 180, 360, 600, 900]) + rng.randrange(-2, 300)
                error = rng.choice([-90, 30, 60, -150, 90, -270]) + rng.randrange(-3, 4)
                if ahead + error <= 0:
                    continue  # the log holds arrivals ahead of the sample only
                at = arrived - timedelta(seconds=ahead)
                _predicted(run, sequence, at=at, arrival=arrived + timedelta(seconds=error))
                expected.setdefault(bucket_of(ahead).label, []).append(error)
    report = prediction_accuracy(ReportFilters(day, day), timezone="UTC")
    got = {row.bucket: row for row in report.by_bucket}
    assert set(got) == set(expected) == {b.label for b in BUCKETS}
    for label, errors in expected.items():
        want = tally(errors, BY_LABEL[label])
        row = got[label]
        assert (row.count, row.within_share) == (want.count, want.within_share(BY_LABEL[label]))
        assert row.mae_s == pytest.approx(want.mae_s)
        assert row.bias_s == pytest.approx(want.bias_s)
