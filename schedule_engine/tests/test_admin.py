"""Admin pages: feed versions (list, activate, delete) and read-only, searchable schedule."""

import pytest
from django.contrib.auth.models import User

from schedule_engine import selectors
from schedule_engine.models import Feed
from schedule_engine.testing import TINY_FEED, import_feed, write_feed

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_user_client(client):
    client.force_login(User.objects.create_superuser("root", "root@example.org", "pw"))
    return client


@pytest.fixture
def feeds(tmp_path):
    current = import_feed(write_feed(tmp_path / "a", TINY_FEED), name="first")
    other_files = dict(TINY_FEED, **{"routes.txt": TINY_FEED["routes.txt"].replace("Main", "Elm")})
    other = import_feed(write_feed(tmp_path / "b", other_files), activate=False, name="second")
    return current, other


def test_feed_list_shows_versions_and_activate_switches(admin_user_client, feeds):
    _current, other = feeds
    page = admin_user_client.get("/admin/schedule_engine/feed/")
    assert page.status_code == 200
    assert b"first" in page.content and b"second" in page.content
    response = admin_user_client.post(
        "/admin/schedule_engine/feed/",
        {"action": "activate_feed", "_selected_action": [str(other.pk)]},
    )
    assert response.status_code == 302
    assert selectors.current_feed_get() == other


def test_deleting_keeps_the_current_feed(admin_user_client, feeds):
    current, other = feeds
    admin_user_client.post(
        "/admin/schedule_engine/feed/",
        {
            "action": "delete_selected",
            "_selected_action": [str(current.pk), str(other.pk)],
            "post": "yes",
        },
    )
    assert list(Feed.objects.all()) == [current]


@pytest.mark.parametrize(
    ("model", "query", "expected"),
    [
        ("route", "Main", b"Main Street"),
        ("stop", "Third", b"Third"),
        ("trip", "LATE", b"24:50:00"),
    ],
)
def test_schedule_pages_are_searchable_and_read_only(
    admin_user_client, feeds, model, query, expected
):
    page = admin_user_client.get(f"/admin/schedule_engine/{model}/", {"q": query})
    assert page.status_code == 200
    assert expected in page.content
    assert admin_user_client.get(f"/admin/schedule_engine/{model}/add/").status_code == 403
