"""API tokens through HTTP: a new expiring token per sign-in, logout, logout-all, expiry."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone
from knox.models import AuthToken
from rest_framework.test import APIClient

from runs.tests.fixtures.people import make_user

pytestmark = pytest.mark.usefixtures("login_counters_cleared")

PASSWORD = "s3cret-pass"


@pytest.fixture
def someone(db, fast_password_hashing):
    return make_user("someone", "dispatcher", password=PASSWORD)


def login(client: APIClient | None = None, username: str = "someone", password: str = PASSWORD):
    return (client or APIClient()).post(
        "/api/login/", {"username": username, "password": password}, format="json"
    )


def bearer(key: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client


def test_each_sign_in_issues_a_new_token_that_expires_after_one_shift(someone, settings):
    before = timezone.now()
    first, second = login().json(), login().json()
    assert first["token"] != second["token"]
    expiry = dt.datetime.fromisoformat(second["expiry"])
    lifetime = expiry - before
    assert dt.timedelta(seconds=settings.API_TOKEN_TTL_S - 5) < lifetime
    assert lifetime <= dt.timedelta(seconds=settings.API_TOKEN_TTL_S + 5)
    # Rotation does not cut off the other device: both tokens work until they expire.
    for key in (first["token"], second["token"]):
        assert bearer(key).get("/api/me/").json()["username"] == "someone"
    # Knox stores a hash, never the key itself.
    assert not AuthToken.objects.filter(digest=second["token"]).exists()
    someone.refresh_from_db()
    assert someone.last_login >= before


def test_logout_revokes_only_the_presented_token(someone):
    phone, tablet = login().json()["token"], login().json()["token"]
    assert bearer(phone).post("/api/logout/").status_code == 204
    refused = bearer(phone).get("/api/me/")
    assert refused.status_code == 401
    assert refused.json()["code"] == "authentication_failed"
    assert bearer(tablet).get("/api/me/").status_code == 200


def test_logout_all_revokes_every_token_of_the_user(someone):
    other = make_user("other", "dispatcher", password=PASSWORD)
    keys = [login().json()["token"] for _ in range(3)]
    others = login(username="other").json()["token"]
    assert bearer(keys[0]).post("/api/logout-all/").status_code == 204
    for key in keys:
        assert bearer(key).get("/api/me/").status_code == 401
    assert bearer(others).get("/api/me/").json()["id"] == other.pk


def test_logout_needs_a_token_not_a_session(someone):
    assert APIClient().post("/api/logout/").status_code == 401
    session = APIClient()
    session.force_login(someone)
    assert session.post("/api/logout-all/").status_code == 401


def test_an_expired_token_is_refused_and_deleted(someone):
    key = login().json()["token"]
    AuthToken.objects.filter(user=someone).update(expiry=timezone.now() - dt.timedelta(seconds=1))
    refused = bearer(key).get("/api/me/")
    assert refused.status_code == 401
    assert refused["WWW-Authenticate"] == "Token"
    assert not AuthToken.objects.filter(user=someone).exists()


def test_signing_in_past_the_limit_revokes_the_oldest_token(someone, settings):
    settings.API_TOKEN_LIMIT_PER_USER = 3
    keys = [login().json()["token"] for _ in range(4)]
    assert AuthToken.objects.filter(user=someone).count() == 3
    assert bearer(keys[0]).get("/api/me/").status_code == 401
    for key in keys[1:]:
        assert bearer(key).get("/api/me/").status_code == 200
