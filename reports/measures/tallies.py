"""The three schedule reports' tallies of a set of stop observations, narrowed by stop and
hour. Pure. A daily summary is these tallies of one day, route and direction
(``reports.summaries``); a report merges summaries' and raw days' tallies alike.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from reports.measures.headways import HeadwayKey, Moments, headway_tally, observed_headways
from reports.measures.observations import StopObservation
from reports.measures.on_time import OnTimeTally, Window, on_time_tally
from reports.measures.running_times import RunningKey, RunningTimes, running_time_tally


def _narrowed(
    observations: Iterable[StopObservation], stop_id: str | None, hour: int | None
) -> list[StopObservation]:
    return [
        o
        for o in observations
        if (stop_id is None or o.stop_id == stop_id) and (hour is None or o.hour == hour)
    ]


def on_time_of(
    observations: Sequence[StopObservation],
    window: Window,
    *,
    stop_id: str | None = None,
    hour: int | None = None,
) -> OnTimeTally:
    return on_time_tally(_narrowed(observations, stop_id, hour), window)


def headways_of(
    observations: Sequence[StopObservation],
    frequent_s: int,
    *,
    stop_id: str | None = None,
    hour: int | None = None,
) -> dict[HeadwayKey, Moments]:
    """Headways pair consecutive vehicles first, then keep those of ``hour`` (the later's)."""
    headways = observed_headways(_narrowed(observations, stop_id, None), frequent_s)
    return headway_tally(h for h in headways if hour is None or h.hour == hour)


def running_times_of(
    observations: Sequence[StopObservation],
    *,
    stop_id: str | None = None,
    hour: int | None = None,
) -> dict[RunningKey, RunningTimes]:
    return running_time_tally(observations, stop_id=stop_id, hour=hour)


def merge_into(target: dict, tally: dict) -> None:
    """Merge a keyed tally (headway moments, running times) into ``target``."""
    for key, value in tally.items():
        if key in target:
            target[key].merge(value)
        else:
            target[key] = value
