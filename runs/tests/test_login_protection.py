"""Sign-in under attack, through HTTP: lockout (django-axes) on /api/login/ and /admin/login/,
per username and per address independently, lifted after the cool-off; raw-rate throttles
on /api/login/ per address and per username."""

from __future__ import annotations

import datetime as dt
import time

import pytest
from django.contrib.auth.models import User
from django.test import Client
from rest_framework.test import APIClient

from runs.tests.fixtures.people import make_user

pytestmark = pytest.mark.usefixtures("login_counters_cleared")

PASSWORD = "s3cret-pass"
ATTACKER, OFFICE = "203.0.113.7", "198.51.100.20"
COOL_OFF_S = 3


@pytest.fixture
def people(db, fast_password_hashing) -> tuple[User, User]:
    victim = make_user("victim", "dispatcher", password=PASSWORD)
    bystander = make_user("bystander", "dispatcher", password=PASSWORD)
    for user in (victim, bystander):
        user.is_staff = True  # may sign in to the admin too
        user.save(update_fields=["is_staff"])
    return victim, bystander


@pytest.fixture
def lockout_only(settings):
    """Raw-rate throttles out of the way, a short cool-off: what remains is axes."""
    settings.LOGIN_RATE_PER_ADDRESS = settings.LOGIN_RATE_PER_USERNAME = "1000/min"
    settings.AXES_COOLOFF_TIME = dt.timedelta(seconds=COOL_OFF_S)
    assert settings.AXES_FAILURE_LIMIT == 10  # the shipped default


def api_login(address: str, username: str, password: str = PASSWORD):
    return APIClient(REMOTE_ADDR=address).post(
        "/api/login/", {"username": username, "password": password}, format="json"
    )


def admin_login(address: str, username: str, password: str = PASSWORD):
    client = Client(REMOTE_ADDR=address)
    response = client.post(
        "/admin/login/?next=/admin/", {"username": username, "password": password}
    )
    return response, client


def admin_signed_in(response, client) -> bool:
    return response.status_code == 302 and client.get("/admin/").status_code == 200


@pytest.mark.usefixtures("lockout_only")
def test_api_lockout_after_failures_per_username_and_per_address(people):
    statuses = [api_login(ATTACKER, "victim", "wrong").status_code for _ in range(20)]
    assert statuses[:9] == [400] * 9  # wrong password
    assert set(statuses[9:]) == {429}  # the 10th failure locks
    refused = api_login(ATTACKER, "victim")  # the right password, still refused
    assert refused.status_code == 429
    assert refused.json()["code"] == "locked_out"
    assert 0 < int(refused["Retry-After"]) <= COOL_OFF_S
    assert "token" not in refused.json()
    # The username is locked from every address, the address for every username ...
    assert api_login(OFFICE, "victim").status_code == 429
    assert api_login(ATTACKER, "bystander").status_code == 429
    # ... and nobody else is affected.
    assert api_login(OFFICE, "bystander").status_code == 200
    time.sleep(COOL_OFF_S + 0.5)
    assert api_login(ATTACKER, "victim").status_code == 200


@pytest.mark.usefixtures("lockout_only")
def test_admin_lockout_after_failures_per_username_and_per_address(people):
    for _ in range(20):
        response, _client = admin_login(ATTACKER, "victim", "wrong")
    assert response.status_code == 429
    response, client = admin_login(ATTACKER, "victim")
    assert response.status_code == 429
    assert "too many login attempts" in response.content.decode()
    assert client.get("/admin/").status_code == 302  # not signed in: sent to the login page
    assert admin_login(OFFICE, "victim")[0].status_code == 429
    assert admin_login(ATTACKER, "bystander")[0].status_code == 429
    assert admin_signed_in(*admin_login(OFFICE, "bystander"))
    time.sleep(COOL_OFF_S + 0.5)
    assert admin_signed_in(*admin_login(ATTACKER, "victim"))


@pytest.mark.usefixtures("lockout_only")
def test_failures_on_the_api_count_towards_the_admin_lockout(people):
    for _ in range(10):
        api_login(ATTACKER, "victim", "wrong")
    assert admin_login(OFFICE, "victim")[0].status_code == 429


@pytest.mark.usefixtures("lockout_only")
def test_a_success_does_not_clear_the_address_failures_against_others(people):
    for _ in range(9):
        assert api_login(ATTACKER, "victim", "wrong").status_code == 400
    # The attacker owns "bystander": signing in must not wipe the count against "victim".
    assert api_login(ATTACKER, "bystander").status_code == 200
    assert api_login(ATTACKER, "victim", "wrong").status_code == 429


def test_address_throttle_counts_every_attempt_and_ignores_forwarded_for(people, settings):
    settings.LOGIN_RATE_PER_ADDRESS = "5/min"
    for n in range(5):
        assert api_login(ATTACKER, f"user{n}", "wrong").status_code == 400
    spoofed = APIClient(REMOTE_ADDR=ATTACKER, HTTP_X_FORWARDED_FOR="192.0.2.99")
    throttled = spoofed.post("/api/login/", {"username": "victim", "password": PASSWORD})
    assert throttled.status_code == 429
    assert throttled.json()["code"] == "throttled"
    assert 0 < int(throttled["Retry-After"]) <= 60
    assert api_login(OFFICE, "victim").status_code == 200


def test_username_throttle_counts_across_addresses_and_case(people, settings):
    settings.LOGIN_RATE_PER_USERNAME = "3/min"
    for n, name in enumerate(["victim", "Victim", " VICTIM"]):
        assert api_login(f"192.0.2.{n + 1}", name, "wrong").status_code == 400
    throttled = api_login("192.0.2.50", "victim")
    assert (throttled.status_code, throttled.json()["code"]) == (429, "throttled")
    assert api_login("192.0.2.50", "bystander").status_code == 200


def test_malformed_sign_in_bodies_are_400_not_500(people):
    client = APIClient(REMOTE_ADDR=OFFICE)
    for body in ([], "plain", {"username": ["victim"], "password": PASSWORD}, {}):
        response = client.post("/api/login/", body, format="json")
        assert response.status_code == 400, body
        assert response.json()["code"] == "invalid"
    broken = client.post("/api/login/", b"{", content_type="application/json")
    assert broken.status_code == 400


def test_a_body_nested_too_deeply_to_decode_is_400(db):
    body = b'{"username": ' + b"[" * 100_000 + b"]" * 100_000 + b', "password": "x"}'
    response = APIClient(REMOTE_ADDR=OFFICE).post(
        "/api/login/", data=body, content_type="application/json"
    )
    assert response.status_code == 400
    assert response.json()["code"] == "parse_error"


@pytest.mark.usefixtures("lockout_only")
def test_a_request_without_a_peer_address_is_still_counted(people):
    client = APIClient(REMOTE_ADDR="")
    statuses = [
        client.post("/api/login/", {"username": "victim", "password": "x"}).status_code
        for _ in range(10)
    ]
    assert statuses[-1] == 429 and set(statuses[:9]) == {400}
