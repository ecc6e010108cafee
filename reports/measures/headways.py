"""Headway regularity: observed headways at each stop, their coefficient of variation and
bunching. Pure.

An observed headway is the time between two consecutive vehicles' arrivals at one stop,
in one route and direction, on one service date (ordered by arrival); its scheduled
headway is the difference of the same two runs' scheduled arrivals there. Only headways
whose scheduled headway is in (0, frequent_s] count (a frequent service,
``REPORTS_FREQUENT_HEADWAY_S``, default 900 s): riders of such a route wait for the next
bus instead of reading the timetable (TCQSP 3rd ed., headway adherence for headways of
10 min or less). Bunched: observed < 25 % of scheduled. The coefficient of variation is
the population standard deviation of the observed headways over their mean, from
moments (n, Σh, Σh²), so days merge exactly.
"""

from __future__ import annotations

import itertools
import math
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from reports.measures.observations import StopObservation

BUNCHING_SHARE = 0.25


@dataclass(frozen=True, slots=True)
class Headway:
    route_id: str
    direction_id: int | None
    stop_id: str
    observed_s: int  # whole seconds: sums of days stay exact
    scheduled_s: int
    hour: int  # the later arrival's (scheduled departure's local hour)

    @property
    def bunched(self) -> bool:
        return self.observed_s < BUNCHING_SHARE * self.scheduled_s


def observed_headways(observations: Iterable[StopObservation], frequent_s: int) -> list[Headway]:
    """Consecutive arrivals per (service date, route, direction, stop) with their schedule."""
    calls: dict[tuple, list[StopObservation]] = defaultdict(list)
    for o in observations:
        calls[(o.service_date, o.route_id, o.direction_id, o.stop_id)].append(o)
    headways = []
    for (_, route_id, direction_id, stop_id), at_stop in calls.items():
        at_stop.sort(key=lambda o: (o.arrived_at, o.run_id))
        for before, after in itertools.pairwise(at_stop):
            scheduled = round(after.scheduled_arrival - before.scheduled_arrival)
            if 0 < scheduled <= frequent_s:
                headways.append(
                    Headway(
                        route_id,
                        direction_id,
                        stop_id,
                        round(after.arrived_at - before.arrived_at),
                        scheduled,
                        after.hour,
                    )
                )
    return headways


@dataclass(slots=True)
class Moments:
    """What a headway report needs of a set of headways, mergeable across days."""

    count: int = 0
    total_s: int = 0
    squares_s2: int = 0
    bunched: int = 0
    scheduled_total_s: int = 0

    def add(self, headway: Headway) -> None:
        self.count += 1
        self.total_s += headway.observed_s
        self.squares_s2 += headway.observed_s**2
        self.bunched += headway.bunched
        self.scheduled_total_s += headway.scheduled_s

    def merge(self, other: Moments) -> None:
        self.count += other.count
        self.total_s += other.total_s
        self.squares_s2 += other.squares_s2
        self.bunched += other.bunched
        self.scheduled_total_s += other.scheduled_total_s

    @property
    def mean_s(self) -> float | None:
        return self.total_s / self.count if self.count else None

    @property
    def cv(self) -> float | None:
        """Population stdev / mean; None for fewer than two headways or a zero mean."""
        if self.count < 2 or self.total_s <= 0:
            return None
        mean = self.total_s / self.count
        variance = max(0.0, self.squares_s2 / self.count - mean**2)
        return math.sqrt(variance) / mean

    def as_list(self) -> list[int]:
        return [self.count, self.total_s, self.squares_s2, self.bunched, self.scheduled_total_s]

    @classmethod
    def from_list(cls, values: list[int]) -> Moments:
        return cls(*(int(value) for value in values))


HeadwayKey = tuple[str, int | None, str]  # route_id, direction_id, stop_id


def headway_tally(headways: Iterable[Headway]) -> dict[HeadwayKey, Moments]:
    tally: dict[HeadwayKey, Moments] = {}
    for headway in headways:
        key = (headway.route_id, headway.direction_id, headway.stop_id)
        tally.setdefault(key, Moments()).add(headway)
    return tally
