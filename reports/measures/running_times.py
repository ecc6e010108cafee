"""Running times per route (whole trips) and per segment (stop to stop), observed against
scheduled, as percentiles. Pure.

A segment's running time is the next recorded stop's arrival minus this stop's departure
(two consecutive recorded calls of one run; the progression records every stop it
passes, observed or interpolated, so these are consecutive stops); a trip's is its last stop's
arrival minus its first stop's departure, counted only for a run that recorded both. The
scheduled time is the same difference of scheduled times. Both are kept as whole-second
histograms (``reports.measures.percentiles``) so days merge exactly.
"""

from __future__ import annotations

import itertools
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

from reports.measures.observations import StopObservation
from reports.measures.percentiles import percentile

# A trip's key has no stops: (route_id, direction_id, "", "").
RunningKey = tuple[str, int | None, str, str]  # route, direction, from stop, to stop
TRIP = ""


@dataclass(slots=True)
class RunningTimes:
    observed: Counter[int] = field(default_factory=Counter)
    scheduled: Counter[int] = field(default_factory=Counter)
    # The lowest stop sequence the segment left from (0 for trips): the report lists a
    # route's segments in the order its runs meet them.
    sequence: int | None = None

    def add(self, observed_s: float, scheduled_s: float, sequence: int = 0) -> None:
        self.observed[round(observed_s)] += 1
        self.scheduled[round(scheduled_s)] += 1
        self.sequence = sequence if self.sequence is None else min(self.sequence, sequence)

    def merge(self, other: RunningTimes) -> None:
        self.observed.update(other.observed)
        self.scheduled.update(other.scheduled)
        if other.sequence is not None:
            self.sequence = (
                other.sequence if self.sequence is None else min(self.sequence, other.sequence)
            )

    @property
    def count(self) -> int:
        return sum(self.observed.values())

    def summary(self) -> dict[str, int | None]:
        out: dict[str, int | None] = {"count": self.count}
        for p in (50, 90, 95):
            out[f"observed_p{p}_s"] = percentile(self.observed, p)
        out["scheduled_p50_s"] = percentile(self.scheduled, 50)
        return out


def running_time_tally(
    observations: Iterable[StopObservation], *, hour: int | None = None, stop_id: str | None = None
) -> dict[RunningKey, RunningTimes]:
    """Trips and segments of the runs observed. ``hour``: only trips and segments that
    leave in that local hour (scheduled); ``stop_id``: only segments from or to that stop
    (and no whole trips)."""
    runs: dict[str, list[StopObservation]] = defaultdict(list)
    for o in observations:
        runs[o.run_id].append(o)
    tally: dict[RunningKey, RunningTimes] = {}
    for calls in runs.values():
        calls.sort(key=lambda o: o.stop_sequence)
        for here, there in itertools.pairwise(calls):
            if here.departed_at is None:
                continue
            if hour is not None and here.hour != hour:
                continue
            if stop_id is not None and stop_id not in (here.stop_id, there.stop_id):
                continue
            key = (here.route_id, here.direction_id, here.stop_id, there.stop_id)
            tally.setdefault(key, RunningTimes()).add(
                there.arrived_at - here.departed_at,
                there.scheduled_arrival - here.scheduled_departure,
                here.stop_sequence,
            )
        first, last = calls[0], calls[-1]
        if (
            stop_id is None
            and first.stop_sequence == first.first_sequence
            and last.stop_sequence == last.last_sequence
            and first.departed_at is not None
            and len(calls) > 1
            and (hour is None or first.hour == hour)
        ):
            key = (first.route_id, first.direction_id, TRIP, TRIP)
            tally.setdefault(key, RunningTimes()).add(
                last.arrived_at - first.departed_at,
                last.scheduled_arrival - first.scheduled_departure,
            )
    return tally
