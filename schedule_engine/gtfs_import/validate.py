"""The rules of a GTFS feed that span records, each returning the problems it finds.

Files present, columns present, keys unique within a shape or a trip, the ends of a trip
timed; the load stage adds what they return to its `errors.Problems`. A rule about one
value is its parser's (`fields`, `parse`). Pure: imports only the standard library and
this package's pure modules.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence

from schedule_engine.gtfs_import.errors import FeedProblem
from schedule_engine.gtfs_import.parse import ParsedStopTime
from schedule_engine.gtfs_import.tables import CALENDAR_FILES, TABLES

# Stop location types that must have coordinates (GTFS: stops, stations, entrances).
LOCATED_TYPES = (0, 1, 2)


def missing_files(has: Callable[[str], bool]) -> list[FeedProblem]:
    """The required files the feed lacks (GTFS needs one of the two calendar files)."""
    problems = [
        FeedProblem(spec.name, None, None, "required file is missing")
        for spec in TABLES
        if spec.required and not has(spec.name)
    ]
    if not any(has(name) for name in CALENDAR_FILES):
        problems.append(
            FeedProblem(
                "calendar.txt",
                None,
                None,
                "required file is missing (neither calendar.txt nor calendar_dates.txt)",
            )
        )
    return problems


def missing_columns(file: str, missing: Sequence[str]) -> list[FeedProblem]:
    """One problem per required column absent from the file's header (line 1)."""
    return [FeedProblem(file, 1, column, "required column is missing") for column in missing]


def duplicate_shape_points(file: str, shape_id: str, points: Sequence[tuple]) -> list[FeedProblem]:
    """Points of one shape sharing a sequence number; ``points`` sorted by sequence.

    Each point is ``(sequence, lat, lon, shape_dist_traveled, line)``.
    """
    return [
        FeedProblem(
            file,
            point[4],
            "shape_pt_sequence",
            f"duplicate key (shape_id, shape_pt_sequence) "
            f"({shape_id!r}, {point[0]}), first at line {previous[4]}",
        )
        for previous, point in itertools.pairwise(points)
        if previous[0] == point[0]
    ]


def trip_stop_times_problem(
    file: str, trip_id: str, stop_times: Sequence[ParsedStopTime]
) -> FeedProblem | None:
    """The first thing wrong with one trip's stop times (sorted by sequence), if any:
    a repeated stop_sequence, or a first or last stop without a time."""
    for previous, current in itertools.pairwise(stop_times):
        if previous.sequence == current.sequence:
            return FeedProblem(
                file,
                current.line,
                "stop_sequence",
                f"duplicate key (trip_id, stop_sequence) ({trip_id!r}, "
                f"{current.sequence}), first at line {previous.line}",
            )
    for end in (stop_times[0], stop_times[-1]):
        if end.arrival is None and end.departure is None:
            return FeedProblem(
                file, end.line, "arrival_time", "required at the first and last stop of a trip"
            )
    return None
