"""The rules that span records, on plain values (no database): what each finds, and where."""

from schedule_engine.gtfs_import.errors import MAX_ERRORS, FeedInvalid, FeedProblem, Problems
from schedule_engine.gtfs_import.parse import ParsedStopTime
from schedule_engine.gtfs_import.validate import (
    duplicate_shape_points,
    missing_columns,
    missing_files,
    trip_stop_times_problem,
)


def stop_time(sequence: int, line: int, arrival: int | None) -> ParsedStopTime:
    return ParsedStopTime(sequence, line, "S", arrival, arrival, "", 0, 0, None, None)


def test_a_feed_needs_its_required_files_and_one_calendar_file():
    present = {"agency.txt", "stops.txt", "routes.txt", "trips.txt", "calendar_dates.txt"}
    assert missing_files(present.__contains__) == [
        FeedProblem("stop_times.txt", None, None, "required file is missing")
    ]
    [problem] = missing_files((present - {"calendar_dates.txt"} | {"stop_times.txt"}).__contains__)
    assert (problem.file, problem.reason) == (
        "calendar.txt",
        "required file is missing (neither calendar.txt nor calendar_dates.txt)",
    )


def test_each_missing_column_is_one_problem_on_the_header_line():
    assert missing_columns("stops.txt", ["stop_id"]) == [
        FeedProblem("stops.txt", 1, "stop_id", "required column is missing")
    ]


def test_a_repeated_shape_point_sequence_names_both_lines():
    points = [(1, 9.9, -84.1, None, 2), (2, 9.9, -84.2, None, 3), (2, 9.9, -84.3, None, 7)]
    assert duplicate_shape_points("shapes.txt", "SH", points) == [
        FeedProblem(
            "shapes.txt",
            7,
            "shape_pt_sequence",
            "duplicate key (shape_id, shape_pt_sequence) ('SH', 2), first at line 3",
        )
    ]


def test_a_trip_needs_unique_sequences_and_timed_ends():
    assert (
        trip_stop_times_problem("stop_times.txt", "T", [stop_time(1, 2, 0), stop_time(2, 3, 60)])
        is None
    )
    repeated = trip_stop_times_problem(
        "stop_times.txt", "T", [stop_time(1, 2, 0), stop_time(1, 5, 60)]
    )
    assert repeated == FeedProblem(
        "stop_times.txt",
        5,
        "stop_sequence",
        "duplicate key (trip_id, stop_sequence) ('T', 1), first at line 2",
    )
    untimed = trip_stop_times_problem(
        "stop_times.txt", "T", [stop_time(1, 2, 0), stop_time(2, 3, None)]
    )
    assert untimed == FeedProblem(
        "stop_times.txt", 3, "arrival_time", "required at the first and last stop of a trip"
    )


def test_problems_keep_the_first_errors_and_every_warning():
    problems = Problems()
    for line in range(MAX_ERRORS + 5):
        problems.error("stops.txt", line, "stop_lat", "invalid number 'x'")
        problems.warn("stops.txt", line, "parent_station", "unknown parent station (ignored)")
    assert len(problems.errors) == MAX_ERRORS
    assert len(problems.warnings) == MAX_ERRORS + 5
    try:
        problems.raise_if_errors()
    except FeedInvalid as invalid:
        assert invalid.problems == problems.errors
    else:
        raise AssertionError("errors must abort the import")
