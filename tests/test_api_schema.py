"""The API matches its schema: schemathesis over the whole ``/api/schema/``, as a dispatcher.

The schema is loaded from the WSGI app and every operation in it is tested (none left out;
a test below fails if an ``/api/`` route is missing from the schema), in schemathesis'
three phases: the schema's examples, coverage (boundary values, missing and wrong-typed
parameters, methods the schema does not list) and fuzzing, with a fifth of the generated
strings drawn from hostile ones (NUL, control characters). Each response must pass the
checks below: no 5xx, a documented status, content type, body and headers, a 4xx for data
the schema forbids, and a 405 with ``Allow`` for a method it does not list.

The data is real: the tiny GTFS feed is current, runs stand cancelled, in progress and
requested on three vehicles (one with live telemetry in Redis), a fourth is free to sign
on, and their ids are the examples of the path and query parameters (and the fuzzer draws
them besides random strings), so requests reach real runs, vehicles and trips, not only
404s. Cases share one dispatcher token; the logout endpoints, which revoke the token they
get (logout-all: every token of its user), get a fresh token of a second dispatcher each,
and the shared token is checked to still work at the end.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterator

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from django.urls import URLResolver, get_resolver
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.config import SchemathesisConfig
from schemathesis.hooks import GLOBAL_HOOK_DISPATCHER
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
    unsupported_method,
)

from alerts.services import alert_create, alert_end
from alerts.values import AlertInput, InformedEntity, Translation
from backend.api_schema import ViewFacts, error_statuses
from runs.domain.lifecycle.states import RunState
from runs.models import Vehicle
from runs.services.actors import DISPATCHER_GROUP, actor_for_user
from runs.services.trip_operations import trip_skip_stops
from runs.tests.fixtures.feed import gtfs_feed  # noqa: F401
from runs.tests.fixtures.people import (  # noqa: F401
    company,
    dispatcher,
    login_counters_cleared,
    make_user,
    operator,
    other_operator,
    other_vehicle,
    token_client,
    vehicle,
)
from runs.tests.fixtures.runs import new_run, walk_to

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
    negative_data_rejection,
    unsupported_method,
]
# Fuzzed cases per operation: bounds the whole test to about a minute on two cores.
FUZZ_EXAMPLES_PER_OPERATION = 25
HOSTILE_STRINGS = ["a\x00b", "\x00", "\x1b[2J", "line\nbreak", "\x7f", "\u0085", "%00", "é" * 300]
CONFIG = {
    "phases": {
        "examples": {"enabled": True},
        "coverage": {"enabled": True},
        "fuzzing": {"enabled": True, "generation": {"max-examples": FUZZ_EXAMPLES_PER_OPERATION}},
        "stateful": {"enabled": False},  # not run by the pytest integration
    },
    # Strings that broke APIs before (a NUL reached PostgreSQL: 500) are drawn often, not by luck.
    "dictionaries": {"hostile": {"values": HOSTILE_STRINGS}},
    "generation": {
        "database": "none",
        "dictionaries": {"string": {"dictionary": "hostile", "probability": 0.2}},
    },
}
LOGIN_PASSWORD = "correct horse battery staple"
# A peer address, as every real server gives one (werkzeug's test environ has none; sign-in
# throttles and lockout key on it).
PEER = {"environ_base": {"REMOTE_ADDR": "192.0.2.10"}}
JSON = "application/json"


@pytest.fixture
def keep_test_connection():
    """Requests through the bare WSGI app must not close the test's database connection
    (Django's own test client suspends these signal handlers the same way)."""
    for signal in (request_started, request_finished):
        signal.disconnect(close_old_connections)
    yield
    for signal in (request_started, request_finished):
        signal.connect(close_old_connections)


@pytest.fixture
def fast_password_hashing(settings):
    # Sign-in cases hash a password each; the default hasher would spend the time budget.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def real_objects(
    gtfs_feed,  # noqa: F811
    redis_client,
    company,  # noqa: F811
    vehicle,  # noqa: F811
    other_vehicle,  # noqa: F811
    operator,  # noqa: F811
    other_operator,  # noqa: F811
    dispatcher,  # noqa: F811
    fast_password_hashing,
) -> dict[str, list]:
    """Runs in three states on three vehicles, a fourth vehicle free to sign on; returns the
    ids the examples use, by parameter name."""
    spare = Vehicle.objects.create(id="V3", label="Bus 3", company=company)
    Vehicle.objects.create(id="V4", label="Bus 4", company=company)
    make_user("signs-in", None, password=LOGIN_PASSWORD)
    actor = actor_for_user(dispatcher)
    runs = [
        walk_to(redis_client, new_run(spare, None, "T2"), RunState.CANCELLED, actor),
        walk_to(redis_client, new_run(vehicle, operator, "T1"), RunState.IN_PROGRESS, actor),
        walk_to(
            redis_client, new_run(other_vehicle, other_operator, "T2"), RunState.REQUESTED, actor
        ),
    ]
    start_date = runs[0].start_date.isoformat()
    # Alerts active and ended, and a trip operation, so that their routes meet real ones.
    alerts = [
        alert_create(
            actor=actor,
            data=AlertInput(
                header=(Translation("", f"Stop S2 closed {i}"),),
                informed_entities=(InformedEntity(stop_id="S2"),),
            ),
        )
        for i in range(3)
    ]
    alert_end(actor=actor, alert_id=alerts[2].pk)
    # Tomorrow's T1: still ahead whatever the time of day (the feed runs every day).
    tomorrow = dt.date.today() + dt.timedelta(days=1)
    skip = trip_skip_stops(actor=actor, trip_id="T1", start_date=tomorrow, stop_sequences=[3])
    assert skip.accepted, skip.errors
    return {
        "run_id": [str(run.pk) for run in runs],
        "alert_id": [alert.pk for alert in alerts],
        "operation_id": [skip.operation.pk],
        "vehicle_id": ["V1", "V2", "V3", "V4"],
        "trip_id": ["T1", "T2"],
        "route_id": ["R1"],
        "date": [start_date],
        "state": [RunState.IN_PROGRESS.value, RunState.REQUESTED.value],
        "q": ["S2", "East"],
        "limit": [1],
        "offset": [1],
    }


def request_examples(real: dict[str, list]) -> dict[tuple[str, str], list[dict]]:
    """Request bodies on real objects, by (method, path)."""
    return {
        ("post", "/api/login/"): [{"username": "signs-in", "password": LOGIN_PASSWORD}],
        # V4 is free and a requested run does not hold T2 yet: this sign-on succeeds.
        ("post", "/api/runs/"): [
            {"vehicle_id": "V4", "trip_id": "T2", "start_date": real["date"][0]}
        ],
        ("post", "/api/runs/{run_id}/events/"): [
            {"event": "validate_run"},
            {"event": "run_interrupted", "details": {"reason": "engine fault"}},
        ],
        ("post", "/api/ws-ticket/"): [{}],
        ("post", "/api/alerts/"): [
            {
                "effect": "DETOUR",
                "header": [{"text": "Detour"}],
                "informed_entities": [{"route_id": "R1", "trip_id": "T1"}],
            }
        ],
        ("patch", "/api/alerts/{alert_id}/"): [{"effect": "NO_SERVICE"}],
    }


def add_examples(raw_schema: dict, real: dict[str, list]) -> None:
    """Give every parameter named like a real object, and every body above, its examples."""
    bodies = request_examples(real)
    for path, operations in raw_schema["paths"].items():
        for method, operation in operations.items():
            for parameter in operation.get("parameters", []):
                values = real.get(parameter["name"])
                if values:
                    parameter["examples"] = {f"real{i}": {"value": v} for i, v in enumerate(values)}
            content = operation.get("requestBody", {}).get("content", {})
            if (method, path) in bodies and "application/json" in content:
                content["application/json"]["examples"] = {
                    f"real{i}": {"value": body} for i, body in enumerate(bodies[(method, path)])
                }


@pytest.fixture
def api_schema(real_objects, keep_test_connection, login_counters_cleared):  # noqa: F811
    from backend.wsgi import application

    def before_load_schema(context, raw_schema):
        add_examples(raw_schema, real_objects)

    schemathesis.hook(before_load_schema)
    try:
        schema = schemathesis.openapi.from_wsgi(
            "/api/schema/", application, config=SchemathesisConfig.from_dict(CONFIG)
        )
    finally:
        GLOBAL_HOOK_DISPATCHER.unregister(before_load_schema)

    @schema.hook
    def before_generate_path_parameters(context, strategy):
        # Besides random strings, the fuzzer asks for the real objects.
        names = [p.name for p in context.operation.path_parameters]
        if not names or not all(name in real_objects for name in names):
            return strategy
        real = st.fixed_dictionaries({n: st.sampled_from(real_objects[n]) for n in names})
        return st.one_of(strategy, real)

    return schema


# These revoke the token they are sent (logout-all: every token of its user): each case gets
# a fresh token of a second dispatcher, so the one every other case uses stays valid.
REVOKES_TOKENS = {"/api/logout/", "/api/logout-all/"}


@pytest.fixture
def authorization(dispatcher) -> Iterator[Callable[[str], str]]:  # noqa: F811
    """``authorization(path)``: the Authorization header for a case on ``path``."""
    revoker = make_user("signs-out", DISPATCHER_GROUP)
    shared = token_client(dispatcher)

    def header(path: str) -> str:
        client = token_client(revoker) if path in REVOKES_TOKENS else shared
        return client._credentials["HTTP_AUTHORIZATION"]

    yield header
    # Had anything else revoked it, the run would have tested 401s only.
    assert shared.get("/api/me/").status_code == 200, "the run's dispatcher token was revoked"


@pytest.fixture
def node_id_for_schemathesis(request):
    # schemathesis 4.32 names each operation's subtest through ``Function._nodeid``, which
    # pytest 9.2 no longer has (it keeps ``_id``); give it the attribute it reads.
    request.node._nodeid = request.node.nodeid


schema = schemathesis.pytest.from_fixture("api_schema")


@pytest.mark.usefixtures("node_id_for_schemathesis")
@schema.parametrize()
def test_the_api_matches_its_schema(case, authorization):
    case.call_and_validate(
        headers={"Authorization": authorization(case.path)}, checks=CHECKS, **PEER
    )


def _api_routes(patterns, prefix: str = "") -> Iterator[str]:
    """Every URL route of the project, as OpenAPI paths (``<str:run_id>`` → ``{run_id}``)."""
    for pattern in patterns:
        route = prefix + str(pattern.pattern)
        if isinstance(pattern, URLResolver):
            yield from _api_routes(pattern.url_patterns, route)
        else:
            yield "/" + re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", route)


# The schema and its docs page describe the API; they are not operations of it.
NOT_OPERATIONS = {"/api/schema/", "/api/docs/"}
PATH_VALUES = {"run_id": "00000000-0000-4000-8000-000000000000", "date": "2026-11-22"}


@pytest.fixture
def plain_schema(db, keep_test_connection, login_counters_cleared):  # noqa: F811
    from backend.wsgi import application

    return schemathesis.openapi.from_wsgi("/api/schema/", application)


def test_every_api_route_is_in_the_schema(plain_schema):
    """So every API endpoint, a new one too (ws-ticket, logout), is in the run above."""
    routes = {r for r in _api_routes(get_resolver().url_patterns) if r.startswith("/api/")}
    documented = {op.ok().path for op in plain_schema.get_all_operations()}
    assert routes - NOT_OPERATIONS == documented
    assert {"/api/login/", "/api/logout/", "/api/ws-ticket/"} <= documented


def test_sign_in_answers_as_documented_until_throttled(plain_schema, fast_password_hashing):
    """The run's sign-in cases are throttled before the right password comes up: here the
    200 and then the 429 (login throttle and lockout) are checked against the schema."""
    make_user("signs-in", None, password=LOGIN_PASSWORD)
    login = plain_schema["/api/login/"]["POST"]
    good = login.Case(body={"username": "signs-in", "password": LOGIN_PASSWORD}, media_type=JSON)
    assert good.call_and_validate(checks=CHECKS, **PEER).status_code == 200
    statuses = [
        login.Case(body={"username": "signs-in", "password": "wrong"}, media_type=JSON)
        .call_and_validate(checks=CHECKS, **PEER)
        .status_code
        for _ in range(40)
    ]
    assert statuses[0] == 400 and statuses[-1] == 429, statuses


def test_options_answers_on_every_url(client, dispatcher):  # noqa: F811
    """OPTIONS on every URL of the project but Django's admin, signed in and not: no 5xx,
    and a 405 says what is allowed. ``/api/docs/`` answered 500 before (backend/api_docs.py)."""
    signed_in = token_client(dispatcher)
    routes = [r for r in _api_routes(get_resolver().url_patterns) if not r.startswith("/admin/")]
    assert "/api/docs/" in routes and "/gtfs-rt/trip-updates.pb" in routes
    for route in routes:
        url = re.sub(r"{(\w+)}", lambda m: PATH_VALUES.get(m.group(1), "V1"), route)
        for caller in (client, signed_in):
            response = caller.options(url)
            assert response.status_code < 500, (url, response.status_code)
            if response.status_code == 405:
                assert response.has_header("Allow"), url
    docs = signed_in.options("/api/docs/")
    assert docs.status_code == 200 and docs["Content-Type"] == "application/json"


@pytest.mark.parametrize(
    ("facts", "statuses"),
    [
        # POST /api/login/: no authentication, anyone, throttled, a body.
        (
            dict(
                authenticates=False, needs_sign_in=False, restricts=False, throttled=True, body=True
            ),
            [400, 415, 429],
        ),
        # GET /api/runs/{run_id}/: token or session, a role, a path parameter.
        (dict(restricts=True, path_parameters=True), [400, 401, 403, 404]),
        # GET /api/me/: signed in is enough.
        ({}, [400, 401]),
        # A write by session: CSRF can refuse it.
        (dict(method="POST", body=True), [400, 401, 403, 415]),
        # Session authentication first: DRF refuses an anonymous caller with 403, not 401.
        (dict(challenges=False), [400, 403]),
    ],
)
def test_error_statuses_follow_the_view_classes(facts, statuses):
    signed_in_get = dict(
        method="GET",
        authenticates=True,
        challenges=True,
        needs_sign_in=True,
        restricts=False,
        session=True,
        throttled=False,
        path_parameters=False,
        body=False,
    )
    assert error_statuses(ViewFacts(**{**signed_in_get, **facts})) == statuses


def test_every_operation_documents_its_errors_with_the_error_bodies(plain_schema):
    raw = plain_schema.raw_schema
    bodies = {"#/components/schemas/Error", "#/components/schemas/InvalidInput"}
    for path, operations in raw["paths"].items():
        for method, operation in operations.items():
            label, responses = f"{method.upper()} {path}", operation["responses"]
            assert "400" in responses, label
            if "{" in path:
                assert "404" in responses, label
            if operation.get("security") and {} not in operation["security"]:
                assert "401" in responses, label
            if "requestBody" in operation:
                assert "415" in responses, label
            for status in ("400", "401", "404", "415", "429"):
                if status in responses:
                    schema = responses[status]["content"]["application/json"]["schema"]
                    refs = {s.get("$ref") for s in schema.get("anyOf", [schema])}
                    assert refs & bodies, (label, status, schema)
    assert "429" in raw["paths"]["/api/login/"]["post"]["responses"]
    error = raw["components"]["schemas"]["InvalidInput"]
    assert set(error["required"]) == {"detail", "code"} and "errors" in error["properties"]
