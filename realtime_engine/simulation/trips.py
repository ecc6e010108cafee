"""Which trip a free simulated vehicle takes next. Pure.

Candidates are trip instances of the current feed with absolute times (the runner
reads them for yesterday's and today's service days; when none of them runs now it
falls back to every trip of the feed with its times shifted to now, so the demo
always moves). A trip claimed by a run, or an instance already run (a trip runs once
per service day and start time), is not taken again. ``trip_choose`` prefers, in
order: a trip running now or due within ``DUE_LEAD_S``, one starting near where the
vehicle is (its last terminal), one already under way, the one whose departure is
closest to now. A vehicle given a trip that departs later lays over at its first stop.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Collection, Iterable
from dataclasses import dataclass

# A trip departing within this is due now. Well inside the map-matcher's early-departure
# allowance (5 min): a simulated bus leaves at once, and one leaving more than 5 min early
# would be held "pre-trip" (at a high speed-up the departure comes within a wall second).
DUE_LEAD_S = 120.0
# A trip whose first stop is this close to the vehicle starts where the vehicle is.
NEAR_M = 400.0

EARTH_RADIUS_M = 6_371_008.8


@dataclass(frozen=True, slots=True)
class TripCandidate:
    trip_id: str
    service_date: dt.date
    start_time: str  # "HH:MM:SS" of this instance (GTFS-RT start_time)
    first_departure: float  # POSIX seconds
    last_arrival: float
    origin: tuple[float, float] | None = None  # (lat, lon) of the first stop

    @property
    def key(self) -> tuple[str, dt.date, str]:
        """The trip instance: a trip runs once per service day and start time."""
        return (self.trip_id, self.service_date, self.start_time)

    def due(self, now: float) -> bool:
        """Running now, or departing within ``DUE_LEAD_S``."""
        return self.first_departure <= now + DUE_LEAD_S and self.last_arrival >= now


def any_due(candidates: Iterable[TripCandidate], now: float) -> bool:
    return any(candidate.due(now) for candidate in candidates)


def trip_choose(
    candidates: Iterable[TripCandidate],
    *,
    now: float,
    busy: Collection[str],
    taken: Collection[tuple[str, dt.date, str]] = (),
    near: tuple[float, float] | None = None,
) -> TripCandidate | None:
    """The best trip for a vehicle at ``near`` (or anywhere); None if every trip is claimed
    by a run (``busy`` trip ids) or its instance has been run already (``taken`` keys)."""

    def rank(candidate: TripCandidate) -> tuple:
        starts_near = (
            near is not None
            and candidate.origin is not None
            and distance_m(near, candidate.origin) <= NEAR_M
        )
        return (
            not candidate.due(now),
            not starts_near,
            # Of the due trips, one under way before one the vehicle would lay over for.
            candidate.due(now) and candidate.first_departure > now,
            abs(candidate.first_departure - now),
            candidate.trip_id,
        )

    free = [c for c in candidates if c.trip_id not in busy and c.key not in taken]
    return min(free, key=rank, default=None)


def distance_m(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Equirectangular distance between two (lat, lon) points (ample over a few km)."""
    mean_lat = math.radians((a[0] + b[0]) / 2)
    dx = math.radians(b[1] - a[1]) * math.cos(mean_lat)
    dy = math.radians(b[0] - a[0])
    return EARTH_RADIUS_M * math.hypot(dx, dy)
