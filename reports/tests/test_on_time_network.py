"""A hand-built network for the schedule reports' tests (imported by them; no tests here).

One feed in America/New_York, trips of stops S1..S4 whose times the tests choose, runs
on it, and stop events written with the ORM at chosen deviations from the schedule.
"""

from __future__ import annotations

import datetime as dt
import itertools
from zoneinfo import ZoneInfo

from realtime_engine.models import StopEvent
from runs.models import Run, Vehicle
from schedule_engine.models import Feed, StopTime
from schedule_engine.service_days import service_day_origin

TZ = ZoneInfo("America/New_York")
DAY = dt.date(2026, 11, 30)  # a Monday, EST (UTC-5)
_serial = itertools.count()


def hms(text: str) -> int:
    h, m, s = (int(part) for part in text.split(":"))
    return h * 3600 + m * 60 + s


class Network:
    def __init__(self) -> None:
        n = next(_serial)
        self.feed = Feed.objects.create(
            name=f"reports-{n}", content_hash=f"reports-test-{n}-{id(self)}",
            timezone=str(TZ), is_current=True,
        )  # fmt: skip
        self.trips: dict[str, list[tuple[int, str, int, int]]] = {}
        self.vehicles = itertools.count()

    def trip(self, trip_id: str, stops: list[tuple[str, str, str]]) -> None:
        """Stops as (stop_id, arrival HH:MM:SS, departure HH:MM:SS), sequences 1, 2, ..."""
        rows = [(seq, stop, hms(a), hms(d)) for seq, (stop, a, d) in enumerate(stops, 1)]
        self.trips[trip_id] = rows
        StopTime.objects.bulk_create(
            StopTime(feed=self.feed, trip_id=trip_id, stop_sequence=seq, stop_id=stop,
                     arrival_s=a, departure_s=d)
            for seq, stop, a, d in rows
        )  # fmt: skip

    def run(
        self,
        trip_id: str,
        *,
        route_id: str = "R1",
        direction_id: int | None = 0,
        day: dt.date = DAY,
        start_time: str = "",
        vehicle_id: str | None = None,
    ) -> Run:
        vehicle_id = vehicle_id or f"RV{next(self.vehicles)}"
        vehicle, _ = Vehicle.objects.get_or_create(id=vehicle_id)
        return Run.objects.create(
            vehicle=vehicle, route_id=route_id, trip_id=trip_id, direction_id=direction_id,
            start_date=day, start_time=start_time, feed_version=str(self.feed.pk),
        )  # fmt: skip

    def calls(self, run: Run, deviations: dict[int, tuple[float, float | None]]) -> None:
        """Stop events of ``run``: {stop_sequence: (arrival deviation s, departure deviation
        s or None)} from the schedule (shifted to the run's start_time)."""
        rows = {seq: (stop, a, d) for seq, stop, a, d in self.trips[run.trip_id]}
        shift = hms(run.start_time) - self.trips[run.trip_id][0][3] if run.start_time else 0
        origin = service_day_origin(run.start_date, TZ)
        events = []
        for seq, (arrive, depart) in deviations.items():
            stop, a, d = rows[seq]
            events.append(
                StopEvent(
                    run=run, trip_id=run.trip_id, service_date=run.start_date,
                    stop_sequence=seq, stop_id=stop,
                    arrived_at=origin + dt.timedelta(seconds=a + shift + arrive),
                    departed_at=None if depart is None
                    else origin + dt.timedelta(seconds=d + shift + depart),
                    source=StopEvent.Source.OBSERVED,
                )
            )  # fmt: skip
        StopEvent.objects.bulk_create(events)
