"""What the import derives along the shapes: metres per shape point and per stop, and the
stop times a feed leaves out, interpolated by those metres.

`shape_measured` projects one shape's points around the shape and returns their
cumulative metres and the `ShapeGeometry` later stops are placed on; `PatternDistances`
places a trip's stops on its shape once per (shape, stop pattern); `filled_times` fills
a trip's missing intermediate times by distance, else by stop index. Pure: imports only
the standard library, `runs.domain.geometry` and this package's pure modules.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from runs.domain.geometry import (
    LocalProjection,
    Polyline,
    projection_around,
    stop_distances_along,
)
from schedule_engine.gtfs_import.parse import ParsedStopTime


@dataclass(frozen=True, slots=True)
class ShapeGeometry:
    # None: fewer than two distinct points, so nothing can be placed along the shape.
    polyline: Polyline | None
    projection: LocalProjection


def shape_measured(points: Sequence[tuple[float, float]]) -> tuple[list[float], ShapeGeometry]:
    """Cumulative metres at each (lat, lon) point of a shape, in a projection around it."""
    projection = projection_around(points)
    xy = [projection.to_xy(lat, lon) for lat, lon in points]
    cumulative = [0.0]
    for previous, point in itertools.pairwise(xy):
        cumulative.append(
            cumulative[-1] + math.hypot(point[0] - previous[0], point[1] - previous[1])
        )
    try:
        polyline: Polyline | None = Polyline.from_xy(xy)
    except ValueError:
        polyline = None
    return cumulative, ShapeGeometry(polyline, projection)


class PatternDistances:
    """Metres along a shape per stop, computed once per (shape, stop pattern)."""

    def __init__(
        self,
        shapes: Mapping[str, ShapeGeometry],
        stop_coords: Mapping[str, tuple[float, float] | None],
    ):
        self.shapes = shapes
        self.stop_coords = stop_coords
        self.known: dict[tuple[str, tuple[str, ...]], list[float] | None] = {}

    def along(self, shape_id: str, stop_ids: tuple[str, ...]) -> list[float] | None:
        """None when the shape has no polyline or a stop has no coordinates."""
        pattern = (shape_id, stop_ids)
        if pattern not in self.known:
            shape = self.shapes[shape_id]
            coords = [self.stop_coords.get(stop_id) for stop_id in stop_ids]
            if shape.polyline is None or any(c is None for c in coords):
                self.known[pattern] = None
            else:
                xy = [shape.projection.to_xy(lat, lon) for lat, lon in coords]  # type: ignore[misc]
                self.known[pattern] = stop_distances_along(shape.polyline, xy)
        return self.known[pattern]


def filled_times(
    stop_times: Sequence[ParsedStopTime], distances: Sequence[float] | None
) -> tuple[list[int], list[int], list[bool]]:
    """Arrival and departure per stop, gaps interpolated; and which ones the feed gave."""
    arrivals: list[int | None] = []
    departures: list[int | None] = []
    for s in stop_times:
        arrival = s.arrival if s.arrival is not None else s.departure
        departure = s.departure if s.departure is not None else s.arrival
        arrivals.append(arrival)
        departures.append(departure)
    exact = [a is not None for a in arrivals]
    position = distances if distances else list(range(len(stop_times)))
    known = [i for i, a in enumerate(arrivals) if a is not None]
    for left, right in itertools.pairwise(known):
        span = position[right] - position[left]
        for i in range(left + 1, right):
            share = (position[i] - position[left]) / span if span else (i - left) / (right - left)
            value = round(departures[left] + share * (arrivals[right] - departures[left]))
            arrivals[i] = departures[i] = value
    return arrivals, departures, exact  # type: ignore[return-value]
