"""Hot state and database never disagree: compensation, and Redis failing mid-event."""

from __future__ import annotations

import pytest
import redis

from databus.redis import get_redis
from runs.domain.lifecycle.actions import Action
from runs.domain.lifecycle.events import RunEvent
from runs.domain.lifecycle.states import RunState
from runs.models import RunLifecycleTransition
from runs.services import hot_state
from runs.services.actors import actor_for_user
from runs.services.lifecycle import run_event_apply
from runs.tests.test_lifecycle_service import redis_contents
from tests.support.processes import start_redis


def test_restore_puts_back_every_key_the_actions_touched(run_in_state, redis_client):
    run = run_in_state(RunState.IN_PROGRESS)
    before = redis_contents(redis_client)
    image = hot_state.capture(redis_client, run)
    hot_state.apply(redis_client, run, list(Action))  # every action, projection removed last
    assert redis_contents(redis_client) != before
    hot_state.restore(redis_client, image)
    assert redis_contents(redis_client) == before


def test_redis_down_during_an_event_leaves_the_database_unchanged(
    run_in_state, dispatcher, settings, tmp_path
):
    handle, port = start_redis(tmp_path / "redis")
    try:
        settings.REDIS_URL = f"redis://127.0.0.1:{port}/0"
        run = run_in_state(RunState.INITIALIZED)
        before = RunLifecycleTransition.objects.filter(run=run).count()
        handle.stop()
        with pytest.raises(redis.ConnectionError):
            run_event_apply(
                run_id=run.pk,
                event=RunEvent.RUN_CONFIRMED_BY_OPERATOR,
                actor=actor_for_user(dispatcher),
            )
        run.refresh_from_db()
        assert run.run_lifecycle_state == "Initialized"
        assert RunLifecycleTransition.objects.filter(run=run).count() == before
    finally:
        handle.stop()
        get_redis(settings.REDIS_URL).connection_pool.disconnect()


def test_the_projection_and_metadata_are_stored_as_they_always_were(run_in_state, redis_client):
    """The contracts write the hashes the dicts wrote before them, field for field and in
    order (a small hash answers HGETALL in insertion order, and the state API returns it)."""
    run = run_in_state(RunState.INITIALIZED)
    hot_state.apply(redis_client, run, [Action.WRITE_PROJECTION, Action.WRITE_VEHICLE_METADATA])
    vehicle = run.vehicle
    assert list(redis_client.hgetall(f"run:{run.pk}").items()) == [
        ("run_id", str(run.pk)),
        ("vehicle_id", run.vehicle_id),
        ("operator_id", "" if run.operator_id is None else str(run.operator_id)),
        ("route_id", run.route_id),
        ("trip_id", run.trip_id),
        ("shape_id", run.shape_id),
        ("direction_id", "" if run.direction_id is None else str(run.direction_id)),
        ("start_date", run.start_date.strftime("%Y%m%d")),
        ("start_time", run.start_time),
        ("schedule_relationship", run.schedule_relationship),
        ("run_lifecycle_state", "Initialized"),
        ("last_event_at", "" if run.last_event_at is None else str(run.last_event_at.timestamp())),
    ]
    assert redis_client.hgetall(f"vehicle:{run.vehicle_id}:metadata") == {
        "id": vehicle.pk,
        "label": vehicle.label,
        "license_plate": vehicle.license_plate,
        "wheelchair_accessible": "1" if vehicle.wheelchair_accessible else "0",
    }
