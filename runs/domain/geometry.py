"""Plane geometry for trips: a local metric projection, polylines, locating points on them.

Pure values and functions, shared by the schedule import (stop distances along
each shape, built once per feed version) and the map-matcher (locating every
position on its trip). Imports only the standard library.
"""

from __future__ import annotations

import math
from bisect import bisect_left, bisect_right
from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import pairwise

EARTH_RADIUS_M = 6_371_008.8
# A stop further than this from every candidate leg of the shape still gets a
# distance (its best candidate), but candidates this much worse than the best are
# not considered: it keeps the assignment search small on long loop shapes.
STOP_CANDIDATE_SLACK_M = 100.0
# Segments per bounding circle in ``Polyline.locate`` (about 100 m of a typical shape).
LOCATE_CHUNK = 8


@dataclass(frozen=True, slots=True)
class LocalProjection:
    """Equirectangular projection around an origin: metres east (x) and north (y).

    Accurate to well under a metre over the tens of kilometres of a city network,
    and a multiply-add per point (map-matching projects every position).
    """

    origin_lat: float
    origin_lon: float

    @property
    def _kx(self) -> float:
        return math.radians(1.0) * EARTH_RADIUS_M * math.cos(math.radians(self.origin_lat))

    def to_xy(self, lat: float, lon: float) -> tuple[float, float]:
        ky = math.radians(1.0) * EARTH_RADIUS_M
        return (lon - self.origin_lon) * self._kx, (lat - self.origin_lat) * ky

    def to_latlon(self, x: float, y: float) -> tuple[float, float]:
        ky = math.radians(1.0) * EARTH_RADIUS_M
        return self.origin_lat + y / ky, self.origin_lon + x / self._kx


def projection_around(points: Sequence[tuple[float, float]]) -> LocalProjection:
    """A projection centred on the bounding box of ``(lat, lon)`` points."""
    if not points:
        raise ValueError("cannot centre a projection on no points")
    lats = [p[0] for p in points]
    lons = [p[1] for p in points]
    return LocalProjection((min(lats) + max(lats)) / 2, (min(lons) + max(lons)) / 2)


@dataclass(frozen=True, slots=True)
class Location:
    """Where a point falls on a polyline: distance along it and distance away from it."""

    distance_m: float
    offset_m: float
    segment: int


@dataclass(frozen=True, slots=True)
class Polyline:
    """Points in metres with the cumulative distance at each vertex (``cumulative[0] == 0``)."""

    xs: tuple[float, ...]
    ys: tuple[float, ...]
    cumulative: tuple[float, ...]
    # Bounding circles of runs of LOCATE_CHUNK segments (derived, filled in __post_init__):
    # ``locate`` skips a run whose circle is farther than the best match so far.
    chunk_xs: tuple[float, ...] = field(default=(), init=False, repr=False, compare=False)
    chunk_ys: tuple[float, ...] = field(default=(), init=False, repr=False, compare=False)
    chunk_radii: tuple[float, ...] = field(default=(), init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        centres_x, centres_y, radii = [], [], []
        for start in range(0, len(self.xs) - 1, LOCATE_CHUNK):
            xs = self.xs[start : start + LOCATE_CHUNK + 1]
            ys = self.ys[start : start + LOCATE_CHUNK + 1]
            cx, cy = (min(xs) + max(xs)) / 2, (min(ys) + max(ys)) / 2
            centres_x.append(cx)
            centres_y.append(cy)
            radii.append(max(math.hypot(x - cx, y - cy) for x, y in zip(xs, ys, strict=True)))
        object.__setattr__(self, "chunk_xs", tuple(centres_x))
        object.__setattr__(self, "chunk_ys", tuple(centres_y))
        object.__setattr__(self, "chunk_radii", tuple(radii))

    @classmethod
    def from_xy(cls, points: Sequence[tuple[float, float]]) -> Polyline:
        deduplicated = [points[0]] if points else []
        for point in points[1:]:
            if point != deduplicated[-1]:
                deduplicated.append(point)
        if len(deduplicated) < 2:
            raise ValueError("a polyline needs at least two distinct points")
        cumulative = [0.0]
        for (x0, y0), (x1, y1) in pairwise(deduplicated):
            cumulative.append(cumulative[-1] + math.hypot(x1 - x0, y1 - y0))
        return cls(
            tuple(p[0] for p in deduplicated),
            tuple(p[1] for p in deduplicated),
            tuple(cumulative),
        )

    @property
    def length_m(self) -> float:
        return self.cumulative[-1]

    def segment_location(self, index: int, x: float, y: float) -> Location:
        """The nearest point to (x, y) on segment ``index`` (vertex index → index + 1)."""
        x0, y0 = self.xs[index], self.ys[index]
        dx, dy = self.xs[index + 1] - x0, self.ys[index + 1] - y0
        seg_len_sq = dx * dx + dy * dy
        t = ((x - x0) * dx + (y - y0) * dy) / seg_len_sq
        t = 0.0 if t < 0.0 else 1.0 if t > 1.0 else t
        px, py = x0 + t * dx, y0 + t * dy
        return Location(
            self.cumulative[index] + t * (self.cumulative[index + 1] - self.cumulative[index]),
            math.hypot(x - px, y - py),
            index,
        )

    def segments_between(self, from_m: float, to_m: float) -> range:
        """Indices of the segments that overlap the distance window ``[from_m, to_m]``."""
        first = max(bisect_right(self.cumulative, from_m) - 1, 0)
        last = min(bisect_left(self.cumulative, to_m), len(self.cumulative) - 1)
        return range(min(first, len(self.cumulative) - 2), max(last, first + 1))

    def locate(
        self, x: float, y: float, *, from_m: float = 0.0, to_m: float = math.inf
    ) -> Location:
        """The nearest point within the distance window; the earliest one on a tie."""
        # Called for every position by the map-matcher: runs of segments visited
        # nearest bounding circle first, so the rest are usually skipped unscanned;
        # plain floats in the inner loop (squared distances), one Location at the end.
        xs, ys = self.xs, self.ys
        window = self.segments_between(from_m, to_m)
        first, stop = window.start, window.stop
        chunk_xs, chunk_ys, radii = self.chunk_xs, self.chunk_ys, self.chunk_radii
        hypot = math.hypot
        order = sorted(
            (hypot(x - chunk_xs[chunk], y - chunk_ys[chunk]) - radii[chunk], chunk)
            for chunk in range(first // LOCATE_CHUNK, (stop - 1) // LOCATE_CHUNK + 1)
        )
        best_sq, best_index = math.inf, first
        for gap, chunk in order:
            if gap > 0.0 and gap * gap > best_sq:
                break  # this run and every one after it are farther than the best
            begin = chunk * LOCATE_CHUNK
            for index in range(max(first, begin), min(stop, begin + LOCATE_CHUNK)):
                x0, y0 = xs[index], ys[index]
                dx, dy = xs[index + 1] - x0, ys[index + 1] - y0
                t = ((x - x0) * dx + (y - y0) * dy) / (dx * dx + dy * dy)
                t = 0.0 if t < 0.0 else 1.0 if t > 1.0 else t
                ex, ey = x - x0 - t * dx, y - y0 - t * dy
                distance_sq = ex * ex + ey * ey
                if distance_sq < best_sq or (distance_sq == best_sq and index < best_index):
                    best_sq, best_index = distance_sq, index
        return self.segment_location(best_index, x, y)

    def point_at(self, distance_m: float) -> tuple[float, float]:
        distance_m = min(max(distance_m, 0.0), self.length_m)
        index = min(max(bisect_right(self.cumulative, distance_m) - 1, 0), len(self.xs) - 2)
        span = self.cumulative[index + 1] - self.cumulative[index]
        t = (distance_m - self.cumulative[index]) / span if span else 0.0
        return (
            self.xs[index] + t * (self.xs[index + 1] - self.xs[index]),
            self.ys[index] + t * (self.ys[index + 1] - self.ys[index]),
        )


def _candidate_locations(polyline: Polyline, x: float, y: float) -> list[Location]:
    """Local minima of the offset along the polyline: one per leg that passes near the point."""
    per_segment = [polyline.segment_location(i, x, y) for i in range(len(polyline.xs) - 1)]
    best_offset = min(location.offset_m for location in per_segment)
    limit = best_offset + STOP_CANDIDATE_SLACK_M
    candidates = []
    for i, location in enumerate(per_segment):
        if location.offset_m > limit:
            continue
        previous = per_segment[i - 1].offset_m if i else math.inf
        following = per_segment[i + 1].offset_m if i + 1 < len(per_segment) else math.inf
        if location.offset_m <= previous and location.offset_m <= following:
            candidates.append(location)
    return candidates or [min(per_segment, key=lambda location: location.offset_m)]


def locations_within(polyline: Polyline, x: float, y: float, radius_m: float) -> list[Location]:
    """Each leg of the shape passing within ``radius_m`` of the point: its nearest location.

    In shape order; a leg is a run of consecutive segments within the radius.
    For acquiring a vehicle that appears mid-trip (which leg is it on?); runs of
    segments whose bounding circle is farther than the radius are skipped.
    """
    legs: list[Location] = []
    best: Location | None = None
    previous = -2
    for chunk, (cx, cy, r) in enumerate(
        zip(polyline.chunk_xs, polyline.chunk_ys, polyline.chunk_radii, strict=True)
    ):
        if math.hypot(x - cx, y - cy) - r > radius_m:
            continue
        begin = chunk * LOCATE_CHUNK
        for index in range(begin, min(begin + LOCATE_CHUNK, len(polyline.xs) - 1)):
            location = polyline.segment_location(index, x, y)
            if location.offset_m > radius_m:
                continue
            if index != previous + 1 and best is not None:
                legs.append(best)
                best = None
            if best is None or location.offset_m < best.offset_m:
                best = location
            previous = index
    if best is not None:
        legs.append(best)
    return legs


def stop_distances_along(
    polyline: Polyline, stops_xy: Sequence[tuple[float, float]]
) -> list[float]:
    """Distance along the polyline of each stop, in trip order, never decreasing.

    Each stop may lie near several legs of the shape (loops, out-and-back
    streets); the assignment is the non-decreasing choice of one candidate per
    stop with the least total offset, so a stop on the return leg is not placed
    on the outbound one.
    """
    if not stops_xy:
        return []
    candidates = [_candidate_locations(polyline, x, y) for x, y in stops_xy]
    # cost[i][j]: least total offset of stops 0..i with stop i at candidate j.
    cost: list[list[float]] = [[c.offset_m for c in candidates[0]]]
    back: list[list[int]] = [[-1] * len(candidates[0])]
    for i in range(1, len(candidates)):
        row_cost, row_back = [], []
        for candidate in candidates[i]:
            best, best_j = math.inf, -1
            for j, previous in enumerate(candidates[i - 1]):
                if previous.distance_m <= candidate.distance_m and cost[i - 1][j] < best:
                    best, best_j = cost[i - 1][j], j
            row_cost.append(best + candidate.offset_m)
            row_back.append(best_j)
        cost.append(row_cost)
        back.append(row_back)
    if all(math.isinf(c) for c in cost[-1]):
        # No monotone assignment exists (a stop listed out of shape order): keep order by clamping.
        distances, floor = [], 0.0
        for options in candidates:
            chosen = min(options, key=lambda c: c.offset_m).distance_m
            floor = max(floor, chosen)
            distances.append(floor)
        return distances
    j = min(range(len(cost[-1])), key=cost[-1].__getitem__)
    distances = [0.0] * len(candidates)
    for i in range(len(candidates) - 1, -1, -1):
        distances[i] = candidates[i][j].distance_m
        j = back[i][j]
    return distances


@dataclass(frozen=True, slots=True)
class TripGeometry:
    """A trip's shape in metres and where each of its stops lies along it.

    Built once per feed version by the schedule engine and read by the
    map-matcher for every position, so everything here is precomputed.
    """

    trip_id: str
    shape_id: str
    projection: LocalProjection
    polyline: Polyline
    stop_sequences: tuple[int, ...]
    stop_ids: tuple[str, ...]
    stop_distances_m: tuple[float, ...]

    @property
    def length_m(self) -> float:
        return self.polyline.length_m

    def locate(
        self, lat: float, lon: float, *, from_m: float = 0.0, to_m: float = math.inf
    ) -> Location:
        x, y = self.projection.to_xy(lat, lon)
        return self.polyline.locate(x, y, from_m=from_m, to_m=to_m)
