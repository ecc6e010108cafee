"""Percentiles of whole-second values kept as a histogram (value → count). Pure.

A histogram of whole seconds is a multiset without loss, so histograms of days merge
exactly (the daily summaries) and a percentile of merged days is the percentile of the
raw values. Percentiles are nearest-rank (PostgreSQL's ``percentile_disc``): the
smallest value whose cumulative count reaches ``ceil(p/100 · n)``.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping


def histogram(values: Iterable[float]) -> Counter[int]:
    """Values rounded to whole seconds, counted."""
    return Counter(round(value) for value in values)


def percentile(counts: Mapping[int, int], p: float) -> int | None:
    """Nearest-rank ``p``-th percentile (0 < p ≤ 100); None for an empty histogram."""
    total = sum(counts.values())
    if total == 0:
        return None
    rank = max(1, math.ceil(p / 100 * total))
    seen = 0
    for value in sorted(counts):
        seen += counts[value]
        if seen >= rank:
            return value
    raise AssertionError("unreachable: the ranks add up to the total")
