"""REST endpoints of the schedule over the current feed, and their place in the OpenAPI schema."""

import pytest
from django.contrib.auth.models import User
from rest_framework.test import APIClient

from schedule_engine.testing import TINY_FEED, import_feed, write_feed

pytestmark = pytest.mark.django_db


@pytest.fixture
def api() -> APIClient:
    client = APIClient()
    client.force_authenticate(User.objects.create_user("reader"))
    return client


@pytest.fixture
def tiny(tmp_path):
    return import_feed(write_feed(tmp_path / "tiny", TINY_FEED))


def test_routes_and_stops_list_the_current_feed_and_search(api, tiny):
    routes = api.get("/api/schedule/routes/").json()
    assert routes["count"] == 1
    assert routes["results"][0] == {
        "route_id": "R1",
        "agency_id": "TA",
        "short_name": "1",
        "long_name": "Main Street",
        "route_type": 3,
        "color": "",
        "text_color": "",
    }
    stops = api.get("/api/schedule/stops/").json()
    assert [s["stop_id"] for s in stops["results"]] == ["S1", "S2", "S3", "S4", "ST"]
    assert stops["results"][0]["parent_station"] == "ST"
    found = api.get("/api/schedule/stops/", {"q": "third"}).json()
    assert [s["stop_id"] for s in found["results"]] == ["S3"]


def test_trip_detail_has_stop_times_and_the_shape_as_geojson(api, tiny):
    response = api.get("/api/schedule/trips/LATE/")
    assert response.status_code == 200
    body = response.json()
    assert body["start_time"] == "24:50:00"
    assert [s["arrival_time"] for s in body["stop_times"]] == [
        "24:50:00",
        "24:57:00",
        "25:03:00",
        "25:10:00",
    ]
    assert body["stop_times"][-1]["distance_m"] == pytest.approx(1200.8, abs=2)
    assert body["shape"]["type"] == "Feature"
    assert body["shape"]["geometry"]["type"] == "LineString"
    assert body["shape"]["geometry"]["coordinates"][0] == [-74.0001, 40.7]
    assert api.get("/api/schedule/trips/NOPE/").status_code == 404


def test_service_day_lists_trips_with_absolute_times(api, tiny):
    body = api.get("/api/schedule/service-day/2026-02-13/").json()
    assert body["service_date"] == "2026-02-13" and body["timezone"] == "America/New_York"
    assert body["count"] == 7
    late = next(t for t in body["results"] if t["trip_id"] == "LATE")
    assert late["first_departure"] == "2026-02-14T00:50:00-05:00"
    assert late["last_arrival"] == "2026-02-14T01:10:00-05:00"
    freq = [t["start_time"] for t in body["results"] if t["trip_id"] == "FREQ"]
    assert freq == ["06:00:00", "06:20:00", "06:40:00"]
    assert api.get("/api/schedule/service-day/2026-02-16/").json()["count"] == 0
    assert api.get("/api/schedule/service-day/2026-02-13/", {"limit": 2}).json()["next"]
    assert api.get("/api/schedule/service-day/not-a-date/").status_code == 404


def test_without_a_current_feed_lists_are_empty_and_the_service_day_is_404(api):
    assert api.get("/api/schedule/routes/").json()["count"] == 0
    assert api.get("/api/schedule/service-day/2026-02-13/").status_code == 404


def test_schedule_endpoints_need_authentication(tiny):
    response = APIClient().get("/api/schedule/routes/")
    assert response.status_code == 401
    assert response.json() == {
        "detail": "Authentication credentials were not provided.",
        "code": "not_authenticated",
    }


def test_errors_have_the_api_error_body(api, tiny):
    assert api.get("/api/schedule/trips/NOPE/").json() == {
        "detail": "no trip 'NOPE' in the current feed",
        "code": "not_found",
    }


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("limit=abc", "limit"),
        ("limit=0", "limit"),
        ("limit=1001", "limit"),
        ("offset=-1", "offset"),
        ("offset=0.0", "offset"),
        ("limit=2.0", "limit"),
    ],
)
def test_a_bad_page_is_a_400_naming_the_parameter(api, tiny, query, field):
    for endpoint in ("/api/schedule/stops/", "/api/schedule/service-day/2026-02-13/"):
        response = api.get(f"{endpoint}?{query}")
        assert response.status_code == 400
        assert response.json()["code"] == "invalid"
        assert list(response.json()["errors"]) == [field]


def test_pages_follow_limit_and_offset(api, tiny):
    page = api.get("/api/schedule/stops/", {"limit": 2, "offset": 2}).json()
    assert page["count"] == 5 and [s["stop_id"] for s in page["results"]] == ["S3", "S4"]
    assert page["next"] and page["previous"]


def test_schedule_endpoints_are_in_the_openapi_schema(api):
    response = api.get("/api/schema/", {"format": "json"})
    assert response.status_code == 200
    paths = response.json()["paths"]
    for path in (
        "/api/schedule/routes/",
        "/api/schedule/stops/",
        "/api/schedule/trips/{trip_id}/",
        "/api/schedule/service-day/{date}/",
    ):
        assert "get" in paths[path], path
    schemas = response.json()["components"]["schemas"]

    def page_of(path: str) -> dict:
        ref = paths[path]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
        return schemas[ref["$ref"].rsplit("/", 1)[1]]

    for path in ("/api/schedule/routes/", "/api/schedule/stops/"):
        assert set(page_of(path)["properties"]) == {"count", "next", "previous", "results"}
    day = page_of("/api/schedule/service-day/{date}/")
    assert {"service_date", "timezone", "count", "results"} <= set(day["required"])
