"""``details`` is bounded: the pure check, the 400 that names it, and the service refusing it
for callers that are not the API. Nothing out of bounds is stored."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from runs.domain.lifecycle.details import DETAILS_BOUND, details_problem
from runs.domain.lifecycle.events import RunEvent
from runs.domain.lifecycle.states import RunState
from runs.models import RunLifecycleTransition
from runs.services.actors import actor_for_user
from runs.services.lifecycle import RunDetailsInvalid, run_event_apply


def nested(depth: int) -> dict:
    value: dict = {}
    for _ in range(depth - 1):
        value = {"k": value}
    return value


@pytest.mark.parametrize(
    ("details", "problem"),
    [
        ({"stop_id": "S2"}, None),
        (nested(DETAILS_BOUND.max_depth), None),
        (nested(DETAILS_BOUND.max_depth + 1), "nested deeper than 4 levels"),
        (nested(100_000), "nested deeper than 4 levels"),  # measured, not recursed into
        ({"a": [[[[1]]]]}, "nested deeper than 4 levels"),
        ({str(n): n for n in range(DETAILS_BOUND.max_keys)}, None),
        ({str(n): n for n in range(DETAILS_BOUND.max_keys + 1)}, "has more than 32 keys"),
        ({"reason": "x" * 4000}, None),
        ({"reason": "x" * 5000}, "is larger than 4096 bytes as JSON (5013 bytes)"),
        ({"reason": "é" * 2100}, "is larger than 4096 bytes as JSON (4213 bytes)"),  # UTF-8
        ({"list": [0] * 10_000}, "is larger than 4096 bytes as JSON"),
        (["stop_id"], "must be a JSON object"),
        ({"n": float("nan")}, "holds a number JSON cannot carry"),
        ({"s": "a\x00b"}, "holds a NUL character"),
        ({"s": "\ud800"}, "holds text that is not valid Unicode"),
        ({"when": object()}, "holds a object, not a JSON value"),
    ],
)
def test_details_problem(details, problem):
    found = details_problem(details)
    if problem is None:
        assert found is None
    else:
        assert found is not None and found.startswith(problem), found


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=50),
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=10), children, max_size=5)
    ),
    max_leaves=40,
)


@given(st.dictionaries(st.text(max_size=10), json_values, max_size=8))
def test_whatever_passes_fits_the_bound(details):
    if details_problem(details) is None:
        text = json.dumps(details, separators=(",", ":"), ensure_ascii=False)
        assert len(text.encode()) <= DETAILS_BOUND.max_bytes


@pytest.mark.usefixtures("redis_client")
def test_the_api_answers_400_naming_details_and_stores_nothing(run_in_state, dispatcher_api):
    run = run_in_state(RunState.IN_PROGRESS)
    before = RunLifecycleTransition.objects.filter(run=run).count()
    url = f"/api/runs/{run.pk}/events/"
    for details in ({"stop_id": "S2", "junk": "x" * 2_400_000}, nested(50)):
        response = dispatcher_api.post(
            url, {"event": "run_short_turned", "details": details}, format="json"
        )
        assert response.status_code == 400
        body = response.json()
        assert body["code"] == "invalid" and list(body["errors"]) == ["details"]
    assert RunLifecycleTransition.objects.filter(run=run).count() == before


@pytest.mark.usefixtures("redis_client")
def test_the_service_refuses_oversized_details_from_any_caller(run_in_state, dispatcher):
    run = run_in_state(RunState.IN_PROGRESS)
    before = RunLifecycleTransition.objects.filter(run=run).count()
    with pytest.raises(RunDetailsInvalid, match="details is larger than 4096 bytes"):
        run_event_apply(
            run_id=run.pk,
            event=RunEvent.RUN_SHORT_TURNED,
            details={"stop_id": "S" * 10_000},
            actor=actor_for_user(dispatcher),
        )
    run.refresh_from_db()
    assert run.run_lifecycle_state == RunState.IN_PROGRESS.value
    assert RunLifecycleTransition.objects.filter(run=run).count() == before
