"""`/healthz`, `/readyz` against the real dependencies, and `/metrics`."""

import pytest
from django.db.backends.postgresql.base import DatabaseWrapper

from backend.health import probes
from tests.support.processes import free_port


@pytest.mark.django_db
def test_healthz_answers_without_touching_dependencies(client, settings):
    settings.REDIS_URL = f"redis://127.0.0.1:{free_port()}/0"
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


@pytest.mark.django_db
def test_readyz_reports_three_passing_checks_with_latency(client):
    response = client.get("/readyz")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["status"] == "ok"
    assert set(body["checks"]) >= {"postgres", "redis", "mqtt"}
    for name in ("postgres", "redis", "mqtt"):
        assert body["checks"][name]["ok"] is True
        assert body["checks"][name]["latency_ms"] >= 0


@pytest.mark.django_db
def test_readyz_is_503_naming_redis_when_redis_is_down(client, settings):
    settings.REDIS_URL = f"redis://127.0.0.1:{free_port()}/0"
    response = client.get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert body["failing"] == ["redis"]
    assert body["checks"]["redis"]["ok"] is False
    assert "Connection" in body["checks"]["redis"]["detail"]


@pytest.mark.django_db
def test_readyz_is_503_naming_mqtt_when_the_broker_is_down(client, settings):
    from backend.env import parse_mqtt_url

    settings.MQTT_ADDRESS = parse_mqtt_url(f"mqtt://127.0.0.1:{free_port()}")
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["failing"] == ["mqtt"]


@pytest.mark.django_db
def test_readyz_is_503_naming_postgres_when_the_database_is_down(client, monkeypatch):
    from django.db import connection

    unreachable = DatabaseWrapper({**connection.settings_dict, "PORT": str(free_port())})
    monkeypatch.setattr(probes, "connection", unreachable)
    response = client.get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert body["failing"] == ["postgres"]
    assert "OperationalError" in body["checks"]["postgres"]["detail"]


@pytest.mark.django_db
def test_metrics_is_prometheus_text(client):
    client.get("/healthz")
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain")
    text = response.content.decode()
    assert "# TYPE django_http_requests_before_middlewares_total counter" in text
