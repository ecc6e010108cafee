"""What the predictor needs, derived from a matched position: the schedule deviation now.

Pure (standard library and ``runs.domain`` only). The progression producer calls
``schedule_deviation_s`` with the run's absolute scheduled stops, the stop
distances along its shape and the matched distance: the vehicle is compared with
where the schedule puts it at that distance (interpolated between the departure
from the stop behind and the arrival at the stop ahead), so a bus between stops
has a deviation as well as one standing at a stop.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Sequence

from schedule_engine.predictions.predictor import RunScheduledStop


def scheduled_time_at(
    stops: Sequence[RunScheduledStop], distances_m: Sequence[float], distance_m: float
) -> float:
    """When the schedule has the vehicle at ``distance_m`` along the trip (POSIX s)."""
    if distance_m <= distances_m[0]:
        return stops[0].departure
    ahead = bisect_right(distances_m, distance_m)
    if ahead >= len(stops):
        return stops[-1].arrival
    behind = ahead - 1
    span = distances_m[ahead] - distances_m[behind]
    share = (distance_m - distances_m[behind]) / span if span > 0 else 1.0
    leave, reach = stops[behind].departure, stops[ahead].arrival
    return leave + (reach - leave) * share


def schedule_deviation_s(
    stops: Sequence[RunScheduledStop],
    distances_m: Sequence[float],
    *,
    distance_m: float,
    at: float,
    departed: bool,
) -> float:
    """Seconds behind schedule (negative: early) of a vehicle at ``distance_m`` at ``at``.

    Before departure (``departed`` False) the vehicle can only be late, by however long
    it is past its scheduled departure from the first stop.
    """
    if not departed:
        return max(0.0, at - stops[0].departure)
    return at - scheduled_time_at(stops, distances_m, distance_m)
