"""Who may call what: every endpoint by every kind of caller → the status they get.

The table is the access policy of the HTTP surface (docs/api.md, docs/security.md).
Endpoints come from Django's URL resolver: a URL pattern (or a method of a class-based
view) without a row fails ``test_every_endpoint_has_a_row``, and so does a row whose
pattern is gone. The admin is one family: a few representative rows stand for it.

Each caller is a real account (or none) with both a knox token in ``Authorization`` and a
session cookie, as an API client and a browser would have: DRF views authenticate by the
token first, Django views (admin, live map) by the session. The callers:

- ``anonymous``: nothing; ``bad_token``: a token knox never issued; ``expired_token``: a
  dispatcher's token past its expiry (no session either);
- ``plain_user``: signed in, no group; ``staff_no_role``: ``is_staff``, no group, no
  model permission;
- ``operator_own`` / ``operator_other``: the operator of the run under test, and another
  operator; ``dispatcher``; ``superuser``.

Writes send a body that is invalid once admitted, so ``400`` reads "got past
authentication, role and scope" and nothing changes: what a valid body then does is the
lifecycle tests' business (runs/tests/test_api_runs.py).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver
from django.utils import timezone
from knox.models import AuthToken

from runs.domain.lifecycle.states import RunState
from runs.models import Operator, Run
from runs.services.actors import DISPATCHER_GROUP
from runs.services.api_tokens import api_token_issue
from runs.tests.fixtures.feed import gtfs_feed  # noqa: F401
from runs.tests.fixtures.people import (  # noqa: F401
    company,
    dispatcher,
    login_counters_cleared,
    make_user,
    operator,
    other_operator,
    vehicle,
)
from runs.tests.fixtures.runs import run_in_state  # noqa: F401

CALLERS = (
    "anonymous",
    "bad_token",
    "expired_token",
    "plain_user",
    "staff_no_role",
    "operator_own",
    "operator_other",
    "dispatcher",
    "superuser",
)
UNAUTHENTICATED = ("anonymous", "bad_token", "expired_token")
WITHOUT_ROLE = ("plain_user", "staff_no_role")
WITH_ROLE = ("operator_own", "operator_other", "dispatcher", "superuser")
STAFF = ("staff_no_role", "superuser")
METHODS = ("get", "post", "put", "patch", "delete")
METRICS_TOKEN = "m" * 40

Expected = int | frozenset[int]


def _table(default: Expected, **overrides: Expected) -> dict[str, Expected]:
    table = dict.fromkeys(CALLERS, default)
    for caller, status in overrides.items():
        assert caller in table, caller
        table[caller] = status
    return table


def _each(callers: tuple[str, ...], status: Expected) -> dict[str, Expected]:
    return dict.fromkeys(callers, status)


def public(status: Expected) -> dict[str, Expected]:
    """A plain Django view that ignores credentials: the same answer for everyone."""
    return _table(status)


def drf_public(status: Expected) -> dict[str, Expected]:
    """An AllowAny DRF view: open to all, but a token that is presented must be good."""
    return _table(status, bad_token=401, expired_token=401)


def signed_in(status: Expected) -> dict[str, Expected]:
    return _table(status, **_each(UNAUTHENTICATED, 401))


def with_role(status: Expected) -> dict[str, Expected]:
    return _table(status, **_each(UNAUTHENTICATED, 401), **_each(WITHOUT_ROLE, 403))


def run_scoped(status: Expected) -> dict[str, Expected]:
    """A run's own endpoint: another operator's run does not exist for them (404)."""
    return {**with_role(status), "operator_other": 404}


def admin_page(staff_without_permission: int) -> dict[str, Expected]:
    """Non-staff are sent to the admin login; staff need the model permission."""
    return _table(302, staff_no_role=staff_without_permission, superuser=200)


def login_page_for_others(status: int) -> dict[str, Expected]:
    """A page needing a session and a role: the login page for anyone not signed in."""
    return _table(status, **_each(UNAUTHENTICATED, 302), **_each(WITHOUT_ROLE, 403))


@dataclass(frozen=True)
class Row:
    route: str  # the URL pattern as the resolver spells it
    method: str
    path: str  # placeholders: {run} (operator_own's run), {vehicle}, {trip}, {date}
    expect: Mapping[str, Expected]
    body: dict | None = field(default=None)
    why: str = ""

    @property
    def id(self) -> str:
        return f"{self.method.upper()} {self.path}"


ROWS = (
    # Operations. /readyz answers everyone (names no host to them: see the test below).
    Row("healthz", "get", "/healthz", public(200)),
    Row("readyz", "get", "/readyz", public(frozenset({200, 503}))),
    Row(
        "metrics",
        "get",
        "/metrics",
        public(401),
        why="only `Authorization: Bearer $METRICS_TOKEN`; no account's credentials open it",
    ),
    # Public feeds, like every GTFS-RT feed.
    Row("gtfs-rt/vehicle-positions.pb", "get", "/gtfs-rt/vehicle-positions.pb", public(200)),
    Row("gtfs-rt/trip-updates.pb", "get", "/gtfs-rt/trip-updates.pb", public(200)),
    # Service alerts: public in the feed; any role reads them, dispatchers write them (an
    # operator is refused before the body or the alert is looked at; alert 0 never exists).
    Row("gtfs-rt/alerts.pb", "get", "/gtfs-rt/alerts.pb", public(200)),
    Row("api/alerts/", "get", "/api/alerts/", with_role(200)),
    Row(
        "api/alerts/",
        "post",
        "/api/alerts/",
        {**with_role(400), "operator_own": 403, "operator_other": 403},
        body={"effect": "SNOW"},
    ),
    Row("api/alerts/<str:alert_id>/", "get", "/api/alerts/0/", with_role(404)),
    Row(
        "api/alerts/<str:alert_id>/",
        "patch",
        "/api/alerts/0/",
        {**with_role(404), "operator_own": 403, "operator_other": 403},
        body={"effect": "SNOW"},
    ),
    Row(
        "api/alerts/<str:alert_id>/end/",
        "post",
        "/api/alerts/0/end/",
        {**with_role(404), "operator_own": 403, "operator_other": 403},
    ),
    # The API's description: public (it documents the code, no data).
    Row("api/schema/", "get", "/api/schema/", drf_public(200)),
    Row("api/docs/", "get", "/api/docs/", drf_public(200)),
    # Identity.
    Row(
        "api/login/",
        "post",
        "/api/login/",
        public(400),
        body={},
        why="takes credentials in the body; a header is ignored",
    ),
    Row("api/logout/", "post", "/api/logout/", signed_in(204)),
    Row("api/logout-all/", "post", "/api/logout-all/", signed_in(204)),
    Row("api/me/", "get", "/api/me/", signed_in(200)),
    Row("api/ws-ticket/", "post", "/api/ws-ticket/", with_role(201)),
    # Runs: a role to enter, then an operator sees only their own runs.
    Row("api/runs/", "get", "/api/runs/", with_role(200)),
    Row("api/runs/", "post", "/api/runs/", with_role(400), body={}),
    Row("api/runs/<str:run_id>/", "get", "/api/runs/{run}/", run_scoped(200)),
    Row("api/runs/<str:run_id>/state/", "get", "/api/runs/{run}/state/", run_scoped(200)),
    Row("api/runs/<str:run_id>/history/", "get", "/api/runs/{run}/history/", run_scoped(200)),
    Row(
        "api/runs/<str:run_id>/events/",
        "post",
        "/api/runs/{run}/events/",
        run_scoped(400),
        body={"event": "not_an_event"},
    ),
    # Trip operations: any role reads the active ones; dispatchers write (the service refuses
    # operators, recorded: 403 where the body is valid, as a path without one is). JSON only.
    Row(
        "api/trips/cancellations/",
        "post",
        "/api/trips/cancellations/",
        with_role(400),
        body={"trip_id": ""},
    ),
    Row(
        "api/trips/cancellations/<str:operation_id>/reenable/",
        "post",
        "/api/trips/cancellations/999999/reenable/",
        {**with_role(404), "operator_own": 403, "operator_other": 403},
    ),
    Row("api/trips/added/", "post", "/api/trips/added/", with_role(400), body={"trip_id": ""}),
    Row(
        "api/trips/skipped-stops/",
        "post",
        "/api/trips/skipped-stops/",
        with_role(400),
        body={"trip_id": ""},
    ),
    Row("api/trip-operations/", "get", "/api/trip-operations/", with_role(200)),
    Row(
        "api/trip-operations/<str:operation_id>/end/",
        "post",
        "/api/trip-operations/999999/end/",
        {**with_role(404), "operator_own": 403, "operator_other": 403},
    ),
    Row(
        "api/runs/<str:run_id>/vehicle/",
        "post",
        "/api/runs/{run}/vehicle/",
        run_scoped(400),
        body={"vehicle_id": ""},
    ),
    # The fleet: every role reads it (a driver picks the bus they sign on to).
    Row("api/vehicles/", "get", "/api/vehicles/", with_role(200)),
    Row("api/vehicles/<str:vehicle_id>/", "get", "/api/vehicles/{vehicle}/", with_role(200)),
    Row(
        "api/vehicles/<str:vehicle_id>/positions/",
        "get",
        "/api/vehicles/{vehicle}/positions/",
        {**with_role(200), "operator_own": 403, "operator_other": 403},
        why="history spans other operators' runs and may name the driver: dispatchers only",
    ),
    # The schedule: any account (the public gets the same data as the GTFS zip and feeds).
    Row("api/schedule/routes/", "get", "/api/schedule/routes/", signed_in(200)),
    Row("api/schedule/stops/", "get", "/api/schedule/stops/", signed_in(200)),
    Row("api/schedule/trips/<str:trip_id>/", "get", "/api/schedule/trips/{trip}/", signed_in(200)),
    Row(
        "api/schedule/service-day/<str:date>/",
        "get",
        "/api/schedule/service-day/{date}/",
        signed_in(200),
    ),
    # The live map: a session and a role.
    Row("live/", "get", "/live/", login_page_for_others(200)),
    Row(
        "live/network.json",
        "get",
        "/live/network.json",
        _table(200, **_each(UNAUTHENTICATED, 401)),
        why="the network's geometry (public in the GTFS) for any signed-in user",
    ),
    # Reports: dispatchers and planners (a group; no caller here is one); an operator's
    # role opens no report (they span every operator's runs).
    *(
        Row(
            f"api/reports/{name}/",
            "get",
            f"/api/reports/{name}/",
            {**with_role(200), "operator_own": 403, "operator_other": 403},
        )
        for name in (
            "on-time",
            "headways",
            "running-times",
            "prediction-accuracy",
            "data-quality",
        )
    ),
    # Report pages: the same readers, by the session; the login page for the others.
    *(
        Row(
            f"reports/{name}",
            "get",
            f"/reports/{name}",
            {**login_page_for_others(200), "operator_own": 403, "operator_other": 403},
        )
        for name in (
            "",
            "on-time/",
            "headways/",
            "running-times/",
            "prediction-accuracy/",
            "data-quality/",
        )
    ),
    # Operations status: staff (is_staff) only, whatever their role (backend/ops).
    Row(
        "api/ops/status",
        "get",
        "/api/ops/status",
        _table(403, **_each(UNAUTHENTICATED, 401), **_each(STAFF, 200)),
        why="names hosts, workers and errors: the people who run the system",
    ),
    Row("admin/ops/status/", "get", "/admin/ops/status/", admin_page(staff_without_permission=200)),
    # The admin, one family: its index, the runs list and a run's page.
    Row("admin/", "get", "/admin/", admin_page(staff_without_permission=200)),
    Row("admin/runs/run/", "get", "/admin/runs/run/", admin_page(staff_without_permission=403)),
    Row(
        "admin/runs/run/<path:object_id>/change/",
        "get",
        "/admin/runs/run/{run}/change/",
        admin_page(staff_without_permission=403),
    ),
)
ADMIN_FAMILY = "admin/"


def _routes(patterns, prefix: str = "") -> Iterator[tuple[str, object]]:
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            yield from _routes(pattern.url_patterns, prefix + str(pattern.pattern))
        elif isinstance(pattern, URLPattern):
            yield prefix + str(pattern.pattern), pattern.callback


def _methods(callback) -> set[str]:
    """The methods a view answers: a class-based view's handlers, else GET (require_GET)."""
    view_class = getattr(callback, "view_class", None)
    if view_class is None:
        return {"get"}
    return {method for method in METHODS if hasattr(view_class, method)}


def test_every_endpoint_has_a_row():
    routes = dict(_routes(get_resolver().url_patterns))
    covered = {(row.route, row.method) for row in ROWS}
    missing = sorted(
        f"{method.upper()} {route}"
        for route, callback in routes.items()
        if not route.startswith(ADMIN_FAMILY)
        for method in _methods(callback)
        if (route, method) not in covered
    )
    assert not missing, f"endpoints without a row in ROWS: {missing}"
    stale = sorted({row.route for row in ROWS} - set(routes))
    assert not stale, f"rows for URL patterns that no longer exist: {stale}"
    assert sum(row.route.startswith(ADMIN_FAMILY) for row in ROWS) >= 3


@dataclass
class Scene:
    clients: dict[str, Client]
    run: Run
    vehicle_id: str
    trip_id: str
    date: str


def _client(user: User | None, key: str | None) -> Client:
    client = Client(raise_request_exception=False)
    if user is not None:
        client.force_login(user)
    if key is not None:
        client.defaults["HTTP_AUTHORIZATION"] = f"Token {key}"
    return client


@pytest.fixture
def scene(
    settings,
    run_in_state,  # noqa: F811
    operator: Operator,  # noqa: F811
    other_operator: Operator,  # noqa: F811
    dispatcher: User,  # noqa: F811
    login_counters_cleared,  # noqa: F811
) -> Scene:
    settings.METRICS_TOKEN = METRICS_TOKEN
    from alerts.feed import alerts_feed_publish
    from databus.redis import get_redis
    from schedule_engine.feeds.tasks import feeds_publish

    run = run_in_state(RunState.INITIALIZED)  # operated by ``operator``
    feeds_publish(get_redis())
    alerts_feed_publish(get_redis())  # the Alerts feed is built by the alerts app
    staff = make_user("staff-no-role", None)
    staff.is_staff = True
    staff.save(update_fields=["is_staff"])
    users = {
        "plain_user": make_user("plain", None),
        "staff_no_role": staff,
        "operator_own": operator.user,
        "operator_other": other_operator.user,
        "dispatcher": dispatcher,
        "superuser": User.objects.create_superuser("root", "root@example.org", None),
    }
    expired = api_token_issue(user=make_user("expired", DISPATCHER_GROUP)).key
    AuthToken.objects.filter(user__username="expired").update(
        expiry=timezone.now() - dt.timedelta(seconds=1)
    )
    clients = {
        "anonymous": _client(None, None),
        "bad_token": _client(None, "0" * 64),
        "expired_token": _client(None, expired),
        **{name: _client(user, api_token_issue(user=user).key) for name, user in users.items()},
    }
    return Scene(clients, run, run.vehicle_id, run.trip_id, run.start_date.isoformat())


def _matches(status: int, expected: Expected) -> bool:
    return status in expected if isinstance(expected, frozenset) else status == expected


@pytest.mark.parametrize("row", ROWS, ids=lambda row: row.id)
def test_access(scene: Scene, row: Row):
    assert set(row.expect) == set(CALLERS), "a row names every caller"
    path = row.path.format(
        run=scene.run.pk, vehicle=scene.vehicle_id, trip=scene.trip_id, date=scene.date
    )
    wrong = []
    for caller in CALLERS:
        client = scene.clients[caller]
        kwargs = {"data": row.body, "content_type": "application/json"} if row.body else {}
        status = getattr(client, row.method)(path, **kwargs).status_code
        if not _matches(status, row.expect[caller]):
            wrong.append(f"{caller}: {status}, expected {row.expect[caller]}")
    assert not wrong, f"{row.id}: " + "; ".join(wrong)


def test_readyz_names_no_hosts_to_callers_without_internals(scene: Scene, settings):
    hosts = {settings.DATABASE_ADDRESS.host, settings.REDIS_ADDRESS.host}
    for caller in CALLERS:
        response = scene.clients[caller].get("/readyz")
        body = response.json()
        assert set(body) >= {"status", "failing"}, caller
        if caller in STAFF:
            assert "checks" in body, caller
        else:
            assert "checks" not in body, caller
            text = response.content.decode()
            assert not any(host in text for host in hosts), caller
