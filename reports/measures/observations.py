"""One recorded stop call beside its schedule: the value every report's measures read. Pure.

Built by ``reports.selectors.observations`` (one query over stop events, runs and the
run's feed version's stop times); times are POSIX seconds, scheduled times already
shifted to the run's instance (a frequency-based trip's later starts) and counted from
the service day's origin in the agency's time zone (``schedule_engine.service_days``).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class StopObservation:
    run_id: str
    service_date: dt.date
    route_id: str
    direction_id: int | None
    trip_id: str
    stop_sequence: int
    stop_id: str
    arrived_at: float
    departed_at: float | None  # None at the terminal
    scheduled_arrival: float
    scheduled_departure: float
    hour: int  # of the scheduled departure, in the agency's time zone
    first_sequence: int  # the trip's first and last stop sequences (its stop times)
    last_sequence: int

    @property
    def is_last_stop(self) -> bool:
        return self.stop_sequence == self.last_sequence

    @property
    def deviation_s(self) -> float:
        """Observed departure minus scheduled; at the trip's last stop, the arrival's."""
        if self.is_last_stop or self.departed_at is None:
            return self.arrived_at - self.scheduled_arrival
        return self.departed_at - self.scheduled_departure
