"""Property test over the OpenAPI schema: no request to a run or vehicle endpoint gives a 5xx.

schemathesis generates requests (valid and invalid) from ``/api/schema/`` and sends
them, authenticated as a dispatcher, to the WSGI app on the real database and Redis.
"""

from __future__ import annotations

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from runs.domain.lifecycle.states import RunState
from runs.tests.fixtures.people import token_client


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
def api_schema(db, keep_test_connection):
    from backend.wsgi import application

    schema = schemathesis.openapi.from_wsgi("/api/schema/", application)
    return schema.include(path_regex=r"^/api/(runs|vehicles)")


@pytest.fixture
def dispatcher_token(dispatcher, run_in_state) -> str:
    run_in_state(RunState.IN_PROGRESS)  # something real to list, read and act on
    client = token_client(dispatcher)
    return client._credentials["HTTP_AUTHORIZATION"]


def test_no_server_error_on_run_and_vehicle_endpoints(api_schema, dispatcher_token):
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) >= 8  # runs list/create/detail/state/events/history, vehicles x2

    @settings(
        max_examples=200, deadline=None, database=None, suppress_health_check=list(HealthCheck)
    )
    @given(case=st.one_of([operation.as_strategy() for operation in operations]))
    def no_server_error(case):
        case.headers = {**(case.headers or {}), "Authorization": dispatcher_token}
        response = case.call()
        assert response.status_code < 500, (case.method, case.formatted_path, response.text[:500])

    no_server_error()
