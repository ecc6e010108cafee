"""``manage.py hot_state check|rebuild`` as an operator runs it, on real PostgreSQL and Redis."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from databus import keys
from databus.metrics import REGISTRY
from runs.domain.lifecycle.states import RunState

pytest_plugins = [
    "runs.tests.fixtures.feed",
    "runs.tests.fixtures.people",
    "runs.tests.fixtures.runs",
]

METRIC = "databus_hot_state_rebuilds_total"


def run_command(*args: str) -> str:
    out = StringIO()
    call_command("hot_state", *args, stdout=out)
    return out.getvalue()


def test_check_fails_until_a_rebuild_and_the_rebuild_restores_the_run(run_in_state, redis_client):
    run = run_in_state(RunState.IN_PROGRESS)
    redis_client.flushdb()
    with pytest.raises(CommandError, match="missing"):
        run_command("check")

    rebuilds = REGISTRY.get_sample_value(METRIC, {"trigger": "command"}) or 0.0
    output = run_command("rebuild")

    assert REGISTRY.get_sample_value(METRIC, {"trigger": "command"}) == rebuilds + 1
    assert "rebuilt 1 runs (1 In Progress)" in output
    assert f"marker {keys.HOT_STATE_EPOCH} set" in output
    assert "present" in run_command("check")
    assert redis_client.sismember(keys.RUNS_IN_PROGRESS, str(run.pk))
    assert redis_client.get(keys.vehicle_current_run(run.vehicle_id)) == str(run.pk)


def test_rebuild_says_so_when_another_rebuild_is_under_way(redis_client):
    redis_client.set(keys.HOT_STATE_REBUILD_LOCK, "another-worker", ex=60)
    with pytest.raises(CommandError, match="another rebuild is under way"):
        run_command("rebuild")
    with pytest.raises(CommandError, match="missing"):
        run_command("check")


@pytest.mark.django_db
def test_a_rebuild_with_nothing_live_still_marks_hot_state_whole(redis_client):
    assert "rebuilt 0 runs (none live)" in run_command("rebuild")
    assert "present" in run_command("check")
