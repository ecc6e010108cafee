"""Activating a feed is a change of the schedule: staff without the feed's change
permission neither see nor run the action, although the feed pages are read-only."""

import pytest
from django.contrib.auth.models import Permission, User

from schedule_engine import selectors
from schedule_engine.testing import TINY_FEED, import_feed, write_feed

pytestmark = pytest.mark.django_db
FEEDS = "/admin/schedule_engine/feed/"


@pytest.fixture
def feeds(tmp_path):
    current = import_feed(write_feed(tmp_path / "a", TINY_FEED), name="first")
    other = import_feed(write_feed(tmp_path / "b", TINY_FEED), activate=False, name="second")
    return current, other


def staff_client(client, *codenames: str):
    user = User.objects.create_user("clerk", is_staff=True)
    user.user_permissions.add(*Permission.objects.filter(codename__in=codenames))
    client.force_login(user)
    return client


def actions_offered(page) -> set[str]:
    form = page.context["action_form"]  # None when no action is available at all
    return {value for value, _label in form.fields["action"].choices} if form else set()


def test_staff_who_may_only_view_feeds_cannot_activate_one(client, feeds):
    current, other = feeds
    viewer = staff_client(client, "view_feed")
    page = viewer.get(FEEDS)
    assert page.status_code == 200
    assert "activate_feed" not in actions_offered(page)
    viewer.post(FEEDS, {"action": "activate_feed", "_selected_action": [str(other.pk)]})
    assert selectors.current_feed_get() == current


def test_the_change_permission_activates(client, feeds):
    _current, other = feeds
    editor = staff_client(client, "view_feed", "change_feed")
    assert "activate_feed" in actions_offered(editor.get(FEEDS))
    editor.post(FEEDS, {"action": "activate_feed", "_selected_action": [str(other.pk)]})
    assert selectors.current_feed_get() == other
