"""The report endpoints through HTTP: roles from groups (dispatcher, planner; 401 and 403
otherwise), JSON and CSV of the same report, filters validated with the parameter named."""

from __future__ import annotations

import csv
import io

import pytest
from rest_framework.test import APIClient

from reports.access import PLANNER_GROUP
from reports.tests.test_on_time_network import DAY, Network
from runs.services.actors import DISPATCHER_GROUP, OPERATOR_GROUP
from runs.tests.fixtures.people import make_user, token_client

pytestmark = pytest.mark.django_db

ENDPOINTS = ["on-time", "headways", "running-times", "prediction-accuracy", "data-quality"]
QUERY = {"start": DAY.isoformat(), "end": DAY.isoformat()}


@pytest.fixture
def planner() -> APIClient:
    return token_client(make_user("planner", PLANNER_GROUP))


@pytest.fixture
def network(redis_client) -> Network:
    net = Network()
    net.trip("T1", [("S1", "08:00:00", "08:00:00"), ("S2", "08:10:00", "08:10:00")])
    net.trip("T2", [("S1", "08:10:00", "08:10:00"), ("S2", "08:20:00", "08:20:00")])
    net.calls(net.run("T1"), {1: (0, 30), 2: (400, None)})  # on time, then late
    net.calls(net.run("T2"), {1: (-120, -120), 2: (0, None)})  # early, then on time
    return net


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_roles_come_from_groups(endpoint, redis_client):
    url = f"/api/reports/{endpoint}/"
    assert APIClient().get(url, QUERY).status_code == 401
    for name, group in [("op", OPERATOR_GROUP), ("nobody", None)]:
        refused = token_client(make_user(name, group)).get(url, QUERY)
        assert refused.status_code == 403
        assert refused.json()["code"] == "permission_denied"
    for name, group in [("disp", DISPATCHER_GROUP), ("plan", PLANNER_GROUP)]:
        answer = token_client(make_user(name, group)).get(url, QUERY)
        assert answer.status_code == 200, answer.content
        assert answer.json()["filters"]["start"] == DAY.isoformat()


def test_json_and_csv_say_the_same(planner, network):
    body = planner.get("/api/reports/on-time/", QUERY).json()
    assert (body["total"]["early"], body["total"]["on_time"], body["total"]["late"]) == (1, 2, 1)
    assert (body["early_s"], body["late_s"]) == (60, 300)
    by_stop = {r["key"]: r for r in body["rows"] if r["dimension"] == "stop"}
    assert by_stop["S2"]["late_share"] == 0.5

    answer = planner.get("/api/reports/on-time/", {**QUERY, "format": "csv"})
    assert answer.status_code == 200
    assert answer["Content-Type"].startswith("text/csv")
    table = list(csv.DictReader(io.StringIO(answer.content.decode())))
    assert list(table[0]) == [
        "dimension", "key", "departures", "early", "on_time", "late",
        "early_share", "on_time_share", "late_share",
    ]  # fmt: skip
    assert len(table) == len(body["rows"])
    s2 = next(row for row in table if row["dimension"] == "stop" and row["key"] == "S2")
    assert (s2["departures"], s2["late"], s2["late_share"]) == ("2", "1", "0.5")


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_every_report_writes_csv_with_a_header(planner, network, endpoint):
    answer = planner.get(f"/api/reports/{endpoint}/", {**QUERY, "format": "csv"})
    assert answer.status_code == 200, answer.content
    header = next(csv.reader(io.StringIO(answer.content.decode())))
    assert header and all(header)


def test_running_times_and_headways_through_http(planner, network):
    trips = planner.get("/api/reports/running-times/", QUERY).json()["rows"]
    trip = next(r for r in trips if r["from_stop_id"] == "")
    # T1: left S1 +30 s, reached S2 +400 s: 970 s; T2: left 120 s early, on time: 720 s.
    assert (trip["count"], trip["observed_p50_s"], trip["observed_p95_s"]) == (2, 720, 970)
    assert trip["scheduled_p50_s"] == 600
    headways = planner.get("/api/reports/headways/", QUERY).json()
    at_s2 = next(r for r in headways["rows"] if r["stop_id"] == "S2")
    # S2: T1 at 08:16:40, T2 at 08:20:00: 200 s against 600 scheduled, not bunched (150).
    assert (at_s2["headways"], at_s2["mean_headway_s"], at_s2["bunched"]) == (1, 200, 0)


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"start": "2026-13-01"}, "start"),
        ({"end": "yesterday"}, "end"),
        ({"start": "2026-12-02", "end": "2026-12-01"}, "end"),
        ({"start": "2024-01-01", "end": "2026-01-01"}, "end"),
        ({"hour": "24"}, "hour"),
        ({"hour": "-1"}, "hour"),
        ({"direction_id": "2"}, "direction_id"),
        ({"route_id": "R" * 256}, "route_id"),
        ({"format": "xml"}, "format"),
        ({"format": ""}, "format"),
        ({"stop_id": ""}, "stop_id"),
        ({"start": " 2026-11-30"}, "start"),
    ],
)
def test_a_bad_filter_is_a_400_naming_it(planner, query, field):
    answer = planner.get("/api/reports/on-time/", query)
    assert answer.status_code == 400
    assert answer["Content-Type"].startswith("application/json")
    assert field in answer.json()["errors"]


def test_an_error_asked_as_csv_is_json(planner):
    answer = planner.get("/api/reports/headways/", {"hour": "x", "format": "csv"})
    assert answer.status_code == 400
    assert answer.json()["errors"] == {"hour": ["must be a whole number"]}


def test_data_quality_takes_only_dates(planner, redis_client):
    answer = planner.get("/api/reports/data-quality/", {**QUERY, "route_id": "R1"})
    assert answer.status_code == 400
    assert "route_id" in answer.json()["errors"]


@pytest.mark.parametrize("endpoint", ENDPOINTS)
@pytest.mark.parametrize("day", ["0001-01-01", "0030-08-02", "9999-12-31"])
def test_the_calendar_edges_are_empty_reports(planner, redis_client, endpoint, day):
    answer = planner.get(f"/api/reports/{endpoint}/", {"start": day, "end": day})
    assert answer.status_code == 200, answer.content
