"""The report pages through Django's test client: who may open them, their filters in the
address, a bad filter shown on its form, the CSV link, and the links to them from the admin
and the live map."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from html.parser import HTMLParser
from urllib.parse import parse_qs, urlsplit

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.test import Client

from reports.demo_history.writer import demo_history_write
from reports.selectors.days import report_today
from reports.views import PAGES
from runs.services.actors import DISPATCHER_GROUP, OPERATOR_GROUP
from schedule_engine.testing import TINY_FEED, import_feed, write_feed

DAY = dt.date(2026, 11, 23)  # a Monday: the tiny feed's weekday service
PAGE_PATHS = [f"/reports/{page.slug}/" for page in PAGES]
ALL_PATHS = ["/reports/", *PAGE_PATHS]


class Elements(HTMLParser):
    """The attributes of every element of a page, by tag (enough to read forms and links)."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[tuple[str, dict[str, str]]] = []

    def handle_starttag(self, tag, attrs):
        self.found.append((tag, {name: value or "" for name, value in attrs}))

    def of(self, tag: str, **match: str) -> list[dict[str, str]]:
        return [
            attrs
            for name, attrs in self.found
            if name == tag and all(attrs.get(k) == v for k, v in match.items())
        ]


def elements(html: str) -> Elements:
    parser = Elements()
    parser.feed(html)
    return parser


def client_in(*groups: str, username: str = "reader") -> Client:
    user = get_user_model().objects.create_user(username, password="pw-reports-page")
    for name in groups:
        user.groups.add(Group.objects.get_or_create(name=name)[0])
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def feed(db, tmp_path):
    return import_feed(write_feed(tmp_path / "feed", TINY_FEED))


@pytest.mark.parametrize("path", ALL_PATHS)
def test_anonymous_users_are_sent_to_the_login_page(db, path):
    response = Client().get(path)
    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/?next=")


@pytest.mark.parametrize("path", ALL_PATHS)
def test_users_without_the_planner_or_dispatcher_role_are_refused(db, path):
    assert client_in().get(path).status_code == 403
    assert client_in(OPERATOR_GROUP, username="driver").get(path).status_code == 403


@pytest.mark.parametrize("group", ["planner", DISPATCHER_GROUP])
def test_planners_and_dispatchers_open_every_page(feed, group):
    client = client_in(group)
    for path in ALL_PATHS:
        response = client.get(path)
        assert response.status_code == 200, path
        assert response["Content-Type"].startswith("text/html")
        # Nothing recorded yet: said so, no empty chart drawn (data quality counts the
        # day's vehicles, none: a zero is a finding there, drawn).
        if path not in ("/reports/", "/reports/data-quality/"):
            assert "No data for these filters." in response.content.decode(), path
            assert elements(response.content.decode()).of("canvas") == [], path


def test_the_index_links_every_report(feed):
    html = client_in("planner").get("/reports/").content.decode()
    links = {a["href"] for a in elements(html).of("a")}
    assert set(PAGE_PATHS) <= links


def test_filters_round_trip_through_the_address_the_form_and_the_links(feed):
    query = {
        "start": "2026-11-23",
        "end": "2026-11-24",
        "route_id": "R1",
        "direction_id": "0",
        "stop_id": "S2",
        "hour": "8",
    }
    response = client_in("planner").get("/reports/on-time/", query)
    assert response.status_code == 200
    page = elements(response.content.decode())
    # The form is a GET to this address, so submitting it puts the filters in the URL.
    (form,) = page.of("form", **{"class": "filters"})
    assert form["method"] == "get"
    for name in ("start", "end", "stop_id"):
        (field,) = page.of("input", name=name)
        assert field["value"] == query[name]
    selected = {}
    for name, attrs in page.found:
        if name == "select":
            current = attrs["name"]
        elif name == "option" and "selected" in attrs:
            selected[current] = attrs["value"]
    assert selected == {"route_id": "R1", "direction_id": "0", "hour": "8"}
    # The CSV link names the same report; the other pages keep the filters.
    (csv,) = page.of("a", id="csv-link")
    csv_url = urlsplit(csv["href"])
    assert csv_url.path == "/api/reports/on-time/"
    assert {k: v[0] for k, v in parse_qs(csv_url.query).items()} == {**query, "format": "csv"}
    (headways,) = [a for a in page.of("a") if a["href"].startswith("/reports/headways/")]
    assert {k: v[0] for k, v in parse_qs(urlsplit(headways["href"]).query).items()} == query


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"start": "2026-13-01"}, "start"),
        ({"start": "2026-11-24", "end": "2026-11-23"}, "end"),
        ({"hour": "24"}, "hour"),
        ({"direction_id": "2"}, "direction_id"),
    ],
)
def test_a_bad_filter_is_shown_on_the_form_with_status_400(feed, query, field):
    response = client_in("planner").get("/reports/headways/", query)
    assert response.status_code == 400
    html = response.content.decode()
    page = elements(html)
    assert len(page.of("p", id="filter-error")) == 1
    assert f"{field}:" in html.split('id="filter-error">', 1)[1].split("</p>", 1)[0]
    # The field at fault is marked, and keeps what was typed for the user to fix.
    assert len(page.of("label", **{"class": "invalid"})) == 1
    assert page.of("canvas") == [] and page.of("a", id="csv-link") == []
    if field == "start":
        (start,) = page.of("input", name="start")
        assert start["value"] == "2026-13-01"


def test_the_admin_index_links_the_reports(feed):
    admin = get_user_model().objects.create_superuser("boss", password="pw-reports-admin")
    client = Client()
    client.force_login(admin)
    links = {a["href"] for a in elements(client.get("/admin/").content.decode()).of("a")}
    assert "/reports/" in links and set(PAGE_PATHS) <= links


def test_the_live_map_links_the_reports(feed):
    html = client_in(DISPATCHER_GROUP).get("/live/").content.decode()
    assert "/reports/" in {a["href"] for a in elements(html).of("a")}


def chart_data(html: str) -> dict[str, dict]:
    """The charts a page hands its script (``json_script``), by key."""
    text = html.split('<script id="report-charts" type="application/json">', 1)[1]
    return {chart["key"]: chart for chart in json.loads(text.split("</script>", 1)[0])}


@pytest.fixture
def recorded_day(feed):
    """A day of history on the tiny feed, written by the demo's generator."""
    written = demo_history_write(
        service_date=DAY, seed="pages", now=dt.datetime(2026, 11, 24, 12, tzinfo=dt.UTC)
    )
    assert written.stop_events > 0
    return DAY


def test_the_on_time_page_draws_what_the_endpoint_answers(recorded_day):
    client = client_in("planner")
    query = {"start": str(recorded_day), "end": str(recorded_day)}
    html = client.get("/reports/on-time/", query).content.decode()
    api = client.get("/api/reports/on-time/", query).json()
    by_route = [row for row in api["rows"] if row["dimension"] == "route"]
    assert by_route
    chart = chart_data(html)["on-time-route"]
    assert chart["labels"] == [row["key"] for row in by_route]
    shares = {series["label"]: series["values"] for series in chart["series"]}
    assert shares["on time"] == [round(row["on_time_share"] * 100, 3) for row in by_route]
    assert shares["late"] == [round(row["late_share"] * 100, 3) for row in by_route]
    # The table is the CSV: the same columns and as many rows.
    table = elements(html)
    (csv_link,) = table.of("a", id="csv-link")
    response = client.get(csv_link["href"])
    assert response["Content-Type"].startswith("text/csv")
    records = list(csv.reader(io.StringIO(response.content.decode())))
    header = html.split('<table id="report-table">', 1)[1].split("</thead>", 1)[0]
    assert [f"<th>{name}</th>" in header for name in records[0]] == [True] * len(records[0])
    assert html.count("<tr><td>") == len(records) - 1 == len(api["rows"])


@pytest.mark.parametrize("slug", ["headways", "running-times", "prediction-accuracy"])
def test_each_page_draws_a_chart_with_data_on_a_recorded_day(recorded_day, slug, settings):
    # The tiny feed's most frequent trips run every 20 min: frequent, for this test.
    settings.REPORTS_FREQUENT_HEADWAY_S = 1800
    html = client_in(DISPATCHER_GROUP).get(
        f"/reports/{slug}/", {"start": str(recorded_day), "end": str(recorded_day)}
    )
    assert html.status_code == 200
    charts = chart_data(html.content.decode())
    assert any(
        value is not None
        for chart in charts.values()
        for s in chart["series"]
        for value in s["values"]
    ), charts


def test_the_data_quality_page_takes_only_dates(feed):
    query = {"start": "2026-11-23", "end": "2026-11-23", "route_id": "R1", "hour": "99"}
    response = client_in("planner").get("/reports/data-quality/", query)
    assert response.status_code == 200  # a route or hour does not apply here: left aside
    page = elements(response.content.decode())
    assert {field["name"] for field in page.of("input")} == {"start", "end"}
    assert page.of("select") == []
    (csv_link,) = page.of("a", id="csv-link")
    assert parse_qs(urlsplit(csv_link["href"]).query) == {
        "start": ["2026-11-23"],
        "end": ["2026-11-23"],
        "format": ["csv"],
    }


def test_range_links_name_the_agencys_days_and_keep_the_other_filters(feed):
    html = client_in("planner").get("/reports/on-time/", {"route_id": "R1"}).content.decode()
    today = report_today()
    ranges = {}
    for link in elements(html).of("a"):
        query = parse_qs(urlsplit(link["href"]).query)
        if link["href"].startswith("?"):
            ranges[(query["start"][0], query["end"][0])] = query.get("route_id")
    yesterday = today - dt.timedelta(days=1)
    assert ranges == {
        (str(today), str(today)): ["R1"],
        (str(yesterday), str(yesterday)): ["R1"],
        (str(today - dt.timedelta(days=7)), str(yesterday)): ["R1"],
        (str(today - dt.timedelta(days=30)), str(yesterday)): ["R1"],
    }
