"""A URL with bad bytes gets a 400 with the API's error body, for every endpoint, before any view.

The rule itself (``query_string_problem``, ``path_problem``) on a table of query strings;
then end to end through the WSGI app on the schedule searches (which answered 500 on a
NUL), on an authenticated runs filter, on a public feed and on a path; and through the
ASGI handler the production server runs, whose query string arrives as bytes.
"""

from __future__ import annotations

import pytest
from asgiref.sync import async_to_sync
from django.test import AsyncClient

from backend.query_guard import path_problem, query_string_problem
from runs.tests.fixtures.people import dispatcher, token_client  # noqa: F401

GOOD_QUERIES = [
    b"",
    b"q=main",
    b"q=main+street&limit=2",
    b"q=%C3%A9cole",  # é, percent-encoded UTF-8
    "q=école".encode(),  # raw UTF-8 (a client that does not encode)
    b"q=100%25",
    b"q=&limit=",  # blank values are the views' business
    b"q=%F0%9F%9A%8C",  # a four-byte character (bus emoji)
]
BAD_QUERIES = {
    b"q=%00": "U+0000",
    b"q=a\x00b": "U+0000",  # raw NUL
    b"q=%0A": "U+000A",
    b"q=%09": "U+0009",
    b"q=%7F": "U+007F",
    b"q=%C2%85": "U+0085",  # C1 control (NEL), valid UTF-8
    b"q=100%": "hexadecimal",
    b"q=%zz": "hexadecimal",
    b"q=%4": "hexadecimal",
    b"q=%FF": "UTF-8",
    b"q=%C3": "UTF-8",  # a truncated two-byte sequence
    b"q=%C3&x=%A9": "UTF-8",  # split by a separator
    b"q=\xff": "UTF-8",  # a raw byte that is no UTF-8
}


@pytest.mark.parametrize("raw", GOOD_QUERIES)
def test_well_formed_query_strings_pass(raw):
    assert query_string_problem(raw) is None


@pytest.mark.parametrize(("raw", "named"), BAD_QUERIES.items())
def test_bad_query_strings_are_named(raw, named):
    problem = query_string_problem(raw)
    assert problem is not None and named in problem


def test_control_characters_in_the_decoded_path_are_named():
    assert path_problem("/api/vehicles/bus-12/") is None
    assert path_problem("/api/vehicles/école/") is None
    assert "U+0000" in path_problem("/api/vehicles/\x00/")
    assert "U+001B" in path_problem("/api/schedule/trips/\x1b[2J/")


def _assert_refused(response, code: str = "invalid_query_string"):
    assert response.status_code == 400, response.content[:200]
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert body["code"] == code and body["detail"], body


@pytest.fixture
def api(dispatcher):  # noqa: F811
    return token_client(dispatcher)


@pytest.mark.parametrize("endpoint", ["/api/schedule/routes/", "/api/schedule/stops/"])
def test_schedule_searches_refuse_a_nul_and_still_search(api, endpoint):
    _assert_refused(api.get(f"{endpoint}?q=a%00b"))
    _assert_refused(api.get(f"{endpoint}?q=%C3"))
    assert api.get(f"{endpoint}?q=%C3%A9").status_code == 200  # no feed: an empty page


def test_other_endpoints_refuse_bad_bytes_too(api, client):
    _assert_refused(api.get("/api/runs/?route_id=%00"))
    _assert_refused(client.get("/gtfs-rt/vehicle-positions.pb?format=%1B"))  # public
    _assert_refused(client.get("/api/login/?next=%"))  # before authentication
    _assert_refused(api.get("/api/vehicles/%00/"), code="invalid_path")


def test_an_api_parameter_given_twice_is_refused_not_resolved_to_the_last(api, client):
    """Found by the schema fuzzer: ``?offset=-4&offset=0`` answered a page for offset 0."""
    _assert_refused(api.get("/api/schedule/stops/?offset=-4&offset=0"))
    _assert_refused(api.get("/api/runs/?state=Completed&state=Cancelled"))
    assert api.get("/api/schedule/stops/?offset=0&limit=5").status_code == 200
    # Outside the API (the admin's filters, the feeds) repeated names are left to the view.
    assert client.get("/gtfs-rt/vehicle-positions.pb?format=json&format=text").status_code != 400


def test_the_asgi_handler_refuses_them_from_the_raw_bytes():
    client = AsyncClient()
    _assert_refused(async_to_sync(client.get)("/api/schedule/stops/", QUERY_STRING="q=%00"))
    _assert_refused(async_to_sync(client.get)("/api/schedule/routes/?q=%C2%85"))
