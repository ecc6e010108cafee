"""On-time performance (schedule adherence): each stop departure early, on time or late. Pure.

Deviation = observed departure - scheduled departure (at a trip's last stop, arrival -
scheduled arrival), in seconds; positive is late. With the agency's window
(``REPORTS_ON_TIME_EARLY_S``, ``REPORTS_ON_TIME_LATE_S``; default -1/+5 min, the common
US agency standard): early when deviation < -early_s, late when deviation > late_s,
on time otherwise (both bounds included). Shares are of the departures counted.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum

from reports.measures.observations import StopObservation


class Adherence(StrEnum):
    EARLY = "early"
    ON_TIME = "on_time"
    LATE = "late"


@dataclass(frozen=True, slots=True)
class Window:
    early_s: int = 60
    late_s: int = 300


def classify(deviation_s: float, window: Window) -> Adherence:
    if deviation_s < -window.early_s:
        return Adherence.EARLY
    if deviation_s > window.late_s:
        return Adherence.LATE
    return Adherence.ON_TIME


@dataclass(slots=True)
class Counts:
    early: int = 0
    on_time: int = 0
    late: int = 0

    @property
    def total(self) -> int:
        return self.early + self.on_time + self.late

    def add(self, adherence: Adherence, n: int = 1) -> None:
        setattr(self, adherence.value, getattr(self, adherence.value) + n)

    def merge(self, other: Counts) -> None:
        self.early += other.early
        self.on_time += other.on_time
        self.late += other.late

    def shares(self) -> dict[str, float | None]:
        total = self.total
        return {
            f"{name}_share": (getattr(self, name) / total if total else None)
            for name in ("early", "on_time", "late")
        }

    def as_list(self) -> list[int]:
        return [self.early, self.on_time, self.late]

    @classmethod
    def from_list(cls, values: list[int]) -> Counts:
        early, on_time, late = values
        return cls(early, on_time, late)


# The breakdowns of the report: by route, by stop and by hour of day.
ROUTE, STOP, HOUR = "route", "stop", "hour"


@dataclass(slots=True)
class OnTimeTally:
    """Counts per breakdown key: ``{ROUTE: {route_id: Counts}, STOP: {...}, HOUR: {...}}``."""

    total: Counts = field(default_factory=Counts)
    by: dict[str, dict[str, Counts]] = field(
        default_factory=lambda: {ROUTE: {}, STOP: {}, HOUR: {}}
    )

    def add(self, observation: StopObservation, adherence: Adherence) -> None:
        self.total.add(adherence)
        keys = {ROUTE: observation.route_id, STOP: observation.stop_id, HOUR: str(observation.hour)}
        for dimension, key in keys.items():
            self.by[dimension].setdefault(key, Counts()).add(adherence)

    def merge(self, other: OnTimeTally) -> None:
        self.total.merge(other.total)
        for dimension, counts in other.by.items():
            for key, value in counts.items():
                self.by[dimension].setdefault(key, Counts()).merge(value)


def on_time_tally(observations: Iterable[StopObservation], window: Window) -> OnTimeTally:
    tally = OnTimeTally()
    for observation in observations:
        tally.add(observation, classify(observation.deviation_s, window))
    return tally
