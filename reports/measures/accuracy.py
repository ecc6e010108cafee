"""Prediction accuracy: how far the published arrival times were from the observed ones. Pure.

The standard is TransitApp's ETA Accuracy Benchmark (github.com/TransitApp/ETA-Accuracy-Benchmark,
from IBI Group's methodology). For one logged prediction of one stop:

- ``error_s = predicted arrival - observed arrival`` (seconds). Positive: the vehicle
  came EARLY, before the time riders were told (they may miss it); negative: it came
  LATE. ``bias`` is the mean error: above 0 the predictions run late of the vehicles.
- The time to actual, ``observed arrival - sampled at`` (the feed's header timestamp),
  puts the prediction in a horizon bucket, ``[lower, upper)`` seconds, as the benchmark
  buckets by "how far away the vehicle was" in fact, not by the horizon it was told.
  A time to actual below 0 (the vehicle had arrived, the feed still predicted it) counts
  in the first bucket.
- A bucket's band: the prediction is accurate if the vehicle arrived no more than
  ``early_s`` before and no more than ``late_s`` after the predicted time, both ends
  included: ``-late_s ≤ error_s ≤ early_s``. 0-3 min: 30 s early / 90 s late; 3-6: 60 /
  150; 6-10: 60 / 210; 10-15: 90 / 270. Beyond 15 min (the log keeps horizons up to
  ``PREDICTION_LOG_MAX_HORIZON_S``) is a bucket of its own, with no band.
- Per group: ``count``, ``MAE`` (mean of ``|error_s|``), ``bias`` (mean of ``error_s``),
  ``within`` (the share of the bucket's predictions inside its band). The benchmark's one
  number, ``overall_accuracy``, is the plain mean of the four banded buckets' shares
  (the buckets that have predictions), not weighted by count.

The selector (``reports.selectors.accuracy``) sums in SQL, grouped finely, into
``Tally`` values (count, sum of ``|error|``, sum of error, count within): sums add up, so
any coarser grouping is a ``merge`` here, and the SQL takes its bucket edges and bands
from ``BUCKETS``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TypeVar

K = TypeVar("K")


@dataclass(frozen=True)
class Bucket:
    """Time to actual ``[lower_s, upper_s)`` (``upper_s`` None: unbounded) and its band."""

    label: str
    lower_s: int
    upper_s: int | None
    early_s: int | None = None  # how much earlier than predicted the vehicle may come
    late_s: int | None = None  # how much later

    @property
    def banded(self) -> bool:
        return self.early_s is not None and self.late_s is not None

    def within(self, error_s: float) -> bool:
        """Whether a prediction ``error_s`` off (predicted - observed) is accurate."""
        if not self.banded:
            return False
        assert self.early_s is not None and self.late_s is not None
        return -self.late_s <= error_s <= self.early_s


BUCKETS: tuple[Bucket, ...] = (
    Bucket("0-3 min", 0, 180, early_s=30, late_s=90),
    Bucket("3-6 min", 180, 360, early_s=60, late_s=150),
    Bucket("6-10 min", 360, 600, early_s=60, late_s=210),
    Bucket("10-15 min", 600, 900, early_s=90, late_s=270),
    Bucket("15+ min", 900, None),
)
BY_LABEL = {bucket.label: bucket for bucket in BUCKETS}


def bucket_of(time_to_actual_s: float) -> Bucket:
    """The bucket of a prediction sampled ``time_to_actual_s`` before the vehicle arrived."""
    for bucket in BUCKETS:
        if bucket.upper_s is None or time_to_actual_s < bucket.upper_s:
            return bucket
    raise AssertionError("the last bucket is unbounded")


@dataclass(frozen=True)
class Tally:
    """Additive sums over a set of predictions (one bucket)."""

    count: int = 0
    abs_error_sum: float = 0.0
    error_sum: float = 0.0
    within_count: int = 0

    def __add__(self, other: Tally) -> Tally:
        return Tally(
            self.count + other.count,
            self.abs_error_sum + other.abs_error_sum,
            self.error_sum + other.error_sum,
            self.within_count + other.within_count,
        )

    @property
    def mae_s(self) -> float | None:
        return self.abs_error_sum / self.count if self.count else None

    @property
    def bias_s(self) -> float | None:
        return self.error_sum / self.count if self.count else None

    def within_share(self, bucket: Bucket) -> float | None:
        return self.within_count / self.count if self.count and bucket.banded else None


def tally(errors: Iterable[float], bucket: Bucket) -> Tally:
    """The tally of predictions of one ``bucket`` with these errors (s)."""
    count, abs_sum, total, within = 0, 0.0, 0.0, 0
    for error in errors:
        count += 1
        abs_sum += abs(error)
        total += error
        within += bucket.within(error)
    return Tally(count, abs_sum, total, within)


def merge(tallies: Iterable[tuple[K, Tally]]) -> dict[K, Tally]:
    """Sum the tallies that share a key (the coarser grouping's key)."""
    merged: dict[K, Tally] = {}
    for key, value in tallies:
        merged[key] = merged.get(key, Tally()) + value
    return merged


def overall_accuracy(by_bucket: Mapping[str, Tally]) -> float | None:
    """The benchmark's single number: the plain mean of the banded buckets' shares."""
    shares = [
        share
        for bucket in BUCKETS
        if (found := by_bucket.get(bucket.label)) is not None
        and (share := found.within_share(bucket)) is not None
    ]
    return sum(shares) / len(shares) if shares else None
