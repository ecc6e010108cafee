"""`/healthz`, `/readyz` against the real dependencies, and `/metrics` behind its token.

Anonymous callers learn only whether the process is ready and which probes fail;
the metrics token or a staff session also sees each probe's detail and latency. A test
that expects readiness starts from an emptied hot-state Redis (``redis_client``): a beat
heartbeat or a feed another test left behind grows old, and old ones fail `/readyz`.
"""

import pytest
from django.contrib.auth import get_user_model
from django.db.backends.postgresql.base import DatabaseWrapper

from backend.health import probes
from backend.metrics_access import bearer_token, token_matches
from tests.support.processes import free_port

METRICS_TOKEN = "metrics-token-for-tests-0123456789abcdef"
ANONYMOUS_KEYS = {"status", "failing", "warnings"}


@pytest.fixture
def metrics_token(settings) -> dict[str, str]:
    """``METRICS_TOKEN`` set; returns the header a scraper sends."""
    settings.METRICS_TOKEN = METRICS_TOKEN
    return {"HTTP_AUTHORIZATION": f"Bearer {METRICS_TOKEN}"}


@pytest.fixture
def staff_client(client):
    user = get_user_model().objects.create_user("ops-staff", password="pw", is_staff=True)
    client.force_login(user)
    return client


def host_names() -> set[str]:
    """Every host the probes talk to: none may appear in an anonymous answer."""
    from django.conf import settings
    from django.db import connection

    return {
        connection.settings_dict["HOST"],
        settings.REDIS_ADDRESS.host,
        settings.MQTT_ADDRESS.host,
    }


@pytest.mark.django_db
def test_healthz_answers_without_touching_dependencies(client, settings):
    settings.REDIS_URL = f"redis://127.0.0.1:{free_port()}/0"
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


@pytest.mark.django_db
def test_readyz_tells_anonymous_callers_the_status_and_no_host(client, redis_client):
    response = client.get("/readyz")
    assert response.status_code == 200, response.content
    body = response.json()
    assert set(body) == ANONYMOUS_KEYS
    assert body["status"] in {"ok", "warn"}
    assert body["failing"] == []
    for host in host_names():
        assert host not in response.content.decode()
    assert "latency" not in response.content.decode()


@pytest.mark.django_db
def test_readyz_with_the_metrics_token_reports_three_passing_checks_with_latency(
    client, metrics_token, redis_client
):
    response = client.get("/readyz", **metrics_token)
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["status"] in {"ok", "warn"}
    assert set(body["checks"]) >= {"postgres", "redis", "mqtt"}
    for name in ("postgres", "redis", "mqtt"):
        assert body["checks"][name]["ok"] is True
        assert body["checks"][name]["latency_ms"] >= 0
    from django.conf import settings

    assert body["checks"]["redis"]["detail"].startswith(f"{settings.REDIS_ADDRESS.host}:")


@pytest.mark.django_db
def test_readyz_shows_a_staff_session_the_detail_and_a_plain_user_none(client, staff_client):
    assert "checks" in staff_client.get("/readyz").json()
    staff_client.logout()
    plain = get_user_model().objects.create_user("plain-user", password="pw")
    client.force_login(plain)
    assert set(client.get("/readyz").json()) == ANONYMOUS_KEYS


@pytest.mark.django_db
def test_readyz_refuses_detail_for_a_wrong_token_and_when_no_token_is_configured(client, settings):
    settings.METRICS_TOKEN = METRICS_TOKEN
    wrong = client.get("/readyz", HTTP_AUTHORIZATION=f"Bearer {METRICS_TOKEN}x")
    assert set(wrong.json()) == ANONYMOUS_KEYS
    settings.METRICS_TOKEN = ""
    empty = client.get("/readyz", HTTP_AUTHORIZATION="Bearer ")
    assert set(empty.json()) == ANONYMOUS_KEYS


@pytest.mark.django_db
def test_readyz_is_503_naming_redis_when_redis_is_down(client, settings, metrics_token):
    settings.REDIS_URL = f"redis://127.0.0.1:{free_port()}/0"
    anonymous = client.get("/readyz")
    assert anonymous.status_code == 503
    # The feed and beat probes read Redis too: its being down is the redis probe's alone.
    assert anonymous.json() == {"status": "fail", "failing": ["redis"], "warnings": []}
    body = client.get("/readyz", **metrics_token).json()
    assert body["failing"] == ["redis"]
    assert body["checks"]["redis"]["ok"] is False
    assert "Connection" in body["checks"]["redis"]["detail"]


@pytest.mark.django_db
def test_readyz_is_503_naming_mqtt_when_the_broker_is_down(client, settings, redis_client):
    from databus.env import parse_mqtt_url

    settings.MQTT_ADDRESS = parse_mqtt_url(f"mqtt://127.0.0.1:{free_port()}")
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["failing"] == ["mqtt"]
    assert "checks" not in response.json()


@pytest.mark.django_db
def test_readyz_is_503_naming_postgres_when_the_database_is_down(
    client, monkeypatch, metrics_token, redis_client
):
    from django.db import connection

    unreachable = DatabaseWrapper({**connection.settings_dict, "PORT": str(free_port())})
    monkeypatch.setattr(probes, "connection", unreachable)
    response = client.get("/readyz", **metrics_token)
    assert response.status_code == 503
    body = response.json()
    assert body["failing"] == ["postgres"]
    assert "OperationalError" in body["checks"]["postgres"]["detail"]


@pytest.mark.django_db
def test_metrics_with_the_token_is_prometheus_text(client, metrics_token):
    client.get("/healthz")
    response = client.get("/metrics", **metrics_token)
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain")
    text = response.content.decode()
    assert "# TYPE django_http_requests_before_middlewares_total counter" in text


@pytest.mark.django_db
@pytest.mark.parametrize(
    "authorization",
    [None, "", "Bearer", f"Bearer {METRICS_TOKEN[:-1]}", f"Basic {METRICS_TOKEN}", METRICS_TOKEN],
)
def test_metrics_without_the_right_bearer_token_is_401(client, settings, authorization):
    settings.METRICS_TOKEN = METRICS_TOKEN
    headers = {} if authorization is None else {"HTTP_AUTHORIZATION": authorization}
    response = client.get("/metrics", **headers)
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert b"django_http" not in response.content


@pytest.mark.django_db
def test_metrics_on_web_is_404_when_no_token_is_configured(client, settings):
    settings.METRICS_TOKEN = ""
    assert client.get("/metrics").status_code == 404
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer ").status_code == 404


def test_bearer_token_parsing_and_comparison():
    assert bearer_token(f"bearer  {METRICS_TOKEN} ") == METRICS_TOKEN
    assert bearer_token("Bearer") is None
    assert bearer_token("Token abc") is None
    assert token_matches(METRICS_TOKEN, METRICS_TOKEN)
    assert not token_matches("", "")  # no token configured matches nothing
    assert not token_matches(None, METRICS_TOKEN)
    assert not token_matches("é" + METRICS_TOKEN, METRICS_TOKEN)  # non-ASCII: no TypeError


@pytest.mark.parametrize("name", ["compose.dev.yml", "compose.prod.yml"])
def test_the_worker_metrics_port_stays_inside_the_compose_network(name):
    """Workers' exporters answer anyone who reaches them: no service publishes the port."""
    import yaml

    from tests.support.production_env import ROOT

    port = "9808"  # WORKER_METRICS_PORT's default, EXPOSEd by the image (to the network only)
    assert f"EXPOSE 8000 {port}" in (ROOT / "Dockerfile").read_text()
    services = yaml.safe_load((ROOT / name).read_text())["services"]
    publishing = [
        service_name
        for service_name, service in services.items()
        if any(port in str(mapping) for mapping in service.get("ports", []))
    ]
    assert publishing == []
