"""Admin actions check model permissions: staff without the change permission on runs
neither see nor run the lifecycle actions; with it, they still need a lifecycle role."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission, User

from runs.domain.lifecycle.states import RunState
from runs.models import RunLifecycleTransition
from runs.services.actors import DISPATCHER_GROUP
from runs.tests.fixtures.people import make_user

CHANGELIST = "/admin/runs/run/"
LIFECYCLE_ACTIONS = ("confirm", "cancel", "interrupt", "short_turn")


def staff(username: str, *codenames: str, group: str | None = None) -> User:
    user = make_user(username, group)
    user.is_staff = True
    user.save(update_fields=["is_staff"])
    user.user_permissions.add(*Permission.objects.filter(codename__in=codenames))
    return user


def signed_in(client, user: User):
    client.force_login(user)
    return client


def offered_actions(response) -> set[str]:
    form = response.context["action_form"]  # None when no action is available at all
    return {value for value, _label in form.fields["action"].choices} if form else set()


def act(client, action: str, run, **extra):
    return client.post(
        CHANGELIST, {"action": action, "_selected_action": [str(run.pk)], **extra}, follow=True
    )


def test_staff_without_any_permission_cannot_open_the_runs(client, run_in_state):
    run = run_in_state(RunState.INITIALIZED)
    signed_in(client, staff("clerk", group=DISPATCHER_GROUP))
    assert client.get("/admin/").status_code == 200
    assert client.get(CHANGELIST).status_code == 403
    assert client.get(f"{CHANGELIST}{run.pk}/change/").status_code == 403
    refused = client.post(CHANGELIST, {"action": "confirm", "_selected_action": [str(run.pk)]})
    assert refused.status_code == 403
    run.refresh_from_db()
    assert run.run_lifecycle_state == RunState.INITIALIZED.value


@pytest.mark.parametrize("action", LIFECYCLE_ACTIONS)
def test_staff_who_may_only_view_runs_neither_see_nor_run_actions(client, run_in_state, action):
    run = run_in_state(RunState.IN_PROGRESS if action == "short_turn" else RunState.INITIALIZED)
    # A dispatcher by role, but the admin account may only look.
    signed_in(client, staff("viewer", "view_run", group=DISPATCHER_GROUP))
    page = client.get(CHANGELIST)
    assert page.status_code == 200
    assert not offered_actions(page) & set(LIFECYCLE_ACTIONS)
    before = RunLifecycleTransition.objects.filter(run=run).count()
    state = run.run_lifecycle_state
    response = act(client, action, run, apply="1", stop_id="S2")
    assert response.status_code == 200
    assert not [str(m) for m in response.context["messages"]]  # no action ran, none refused
    run.refresh_from_db()
    assert run.run_lifecycle_state == state
    assert RunLifecycleTransition.objects.filter(run=run).count() == before


def test_the_change_permission_offers_the_actions_and_they_apply(client, run_in_state):
    run = run_in_state(RunState.INITIALIZED)
    signed_in(client, staff("supervisor", "view_run", "change_run", group=DISPATCHER_GROUP))
    page = client.get(CHANGELIST)
    assert set(LIFECYCLE_ACTIONS) <= offered_actions(page)
    act(client, "confirm", run)
    run.refresh_from_db()
    assert run.run_lifecycle_state == RunState.CONFIRMED.value


def test_the_change_permission_without_a_role_applies_nothing(client, run_in_state):
    run = run_in_state(RunState.INITIALIZED)
    signed_in(client, staff("clerk", "view_run", "change_run"))
    response = act(client, "confirm", run)
    assert [str(m) for m in response.context["messages"]] == [
        "You have neither the dispatcher nor the operator role."
    ]
    run.refresh_from_db()
    assert run.run_lifecycle_state == RunState.INITIALIZED.value


def test_oversized_details_from_the_admin_are_refused_and_not_stored(client, run_in_state):
    run = run_in_state(RunState.IN_PROGRESS)
    signed_in(client, User.objects.create_superuser("boss", "boss@example.org", None))
    before = RunLifecycleTransition.objects.filter(run=run).count()
    response = act(client, "short_turn", run, apply="1", stop_id="S" * 2_400_000)
    (message,) = [str(m) for m in response.context["messages"]]
    assert "details is larger than 4096 bytes as JSON" in message
    assert RunLifecycleTransition.objects.filter(run=run).count() == before
