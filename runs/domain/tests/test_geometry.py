"""Local projection, polyline location and stop distances on constructed shapes."""

import math

import pytest

from runs.domain.geometry import (
    LocalProjection,
    Polyline,
    locations_within,
    projection_around,
    stop_distances_along,
)


def test_projection_round_trips_and_measures_metres():
    projection = LocalProjection(38.9, -77.03)
    x, y = projection.to_xy(38.9 + 0.001, -77.03 + 0.001)
    assert y == pytest.approx(111.2, abs=0.2)
    assert x == pytest.approx(111.2 * math.cos(math.radians(38.9)), abs=0.2)
    lat, lon = projection.to_latlon(x, y)
    assert (lat, lon) == (pytest.approx(38.901), pytest.approx(-77.029))


def test_projection_around_needs_points():
    with pytest.raises(ValueError):
        projection_around([])


def test_polyline_cumulative_distance_and_duplicate_points():
    line = Polyline.from_xy([(0, 0), (0, 0), (300, 0), (300, 400)])
    assert line.cumulative == (0.0, 300.0, 700.0)
    assert line.point_at(500) == (300.0, 200.0)
    with pytest.raises(ValueError):
        Polyline.from_xy([(1, 1), (1, 1)])


def test_locate_respects_the_window_on_an_out_and_back_street():
    # East 1 km along y=0, then back west along y=10: the same street twice.
    line = Polyline.from_xy([(0, 0), (1000, 0), (1000, 10), (0, 10)])
    outbound = line.locate(200, 4, from_m=0, to_m=1000)
    inbound = line.locate(200, 6, from_m=1010, to_m=math.inf)
    assert outbound.distance_m == pytest.approx(200)
    assert inbound.distance_m == pytest.approx(1010 + 800)


def test_stop_distances_on_a_loop_follow_trip_order():
    # A square loop that starts and ends at the same corner: the first stop is
    # at distance 0 and the last at the full length, although both are the same point.
    line = Polyline.from_xy([(0, 0), (500, 0), (500, 500), (0, 500), (0, 0)])
    distances = stop_distances_along(line, [(0, 0), (500, 250), (250, 500), (0, 0)])
    assert distances == [
        pytest.approx(0),
        pytest.approx(750),
        pytest.approx(1250),
        pytest.approx(2000),
    ]


def test_stop_distances_out_and_back_place_return_stops_on_the_return_leg():
    line = Polyline.from_xy([(0, 0), (1000, 0), (1000, 10), (0, 10)])
    distances = stop_distances_along(line, [(100, -5), (900, -5), (900, 15), (100, 15)])
    assert distances == [
        pytest.approx(100),
        pytest.approx(900),
        pytest.approx(1110),
        pytest.approx(1910),
    ]
    assert distances == sorted(distances)


def test_locate_skipping_far_segments_finds_what_a_full_scan_finds():
    # A winding 300-vertex line; random points and windows; compare with every segment.
    import random

    rng = random.Random(7)
    points, x, y, heading = [], 0.0, 0.0, 0.0
    for _ in range(300):
        heading += rng.uniform(-0.8, 0.8)
        x, y = x + 12 * math.cos(heading), y + 12 * math.sin(heading)
        points.append((x, y))
    line = Polyline.from_xy(points)
    for _ in range(500):
        px, py = rng.uniform(-800, 800), rng.uniform(-800, 800)
        lo = rng.uniform(0, line.length_m)
        hi = lo + rng.uniform(0, 1500)
        found = line.locate(px, py, from_m=lo, to_m=hi)
        brute = min(
            (line.segment_location(i, px, py) for i in line.segments_between(lo, hi)),
            key=lambda location: location.offset_m,
        )
        assert found.offset_m == pytest.approx(brute.offset_m, abs=1e-9)


def test_locations_within_lists_each_leg_near_a_point_in_shape_order():
    line = Polyline.from_xy([(0, 0), (1000, 0), (1000, 12), (0, 12), (0, 300), (400, 300)])
    legs = locations_within(line, 400, 6, 60)
    assert [round(c.distance_m) for c in legs] == [400, 1612]
    assert locations_within(line, 400, 150, 60) == []
