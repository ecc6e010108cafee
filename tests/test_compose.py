"""The compose files parse and describe the stack we promise (Docker cannot run here)."""

import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
SERVICES = {"mosquitto", "redis", "postgres", "web", "realtime-engine", "schedule-engine", "beat"}
# One realtime-engine service per replica slot (docs/operations.md, "Ingest sessions and replicas").
CONSUMERS = {
    "compose.dev.yml": ["realtime-engine"],
    "compose.prod.yml": ["realtime-engine", "realtime-engine-2"],
}


def load(name: str) -> dict:
    return yaml.safe_load((ROOT / name).read_text())


@pytest.mark.parametrize("name", ["compose.dev.yml", "compose.prod.yml"])
def test_compose_file_names_every_service_with_a_healthcheck(name):
    services = load(name)["services"]
    assert set(services) == SERVICES | set(CONSUMERS[name])
    for service_name, service in services.items():
        assert "healthcheck" in service, f"{name}: {service_name} has no healthcheck"


@pytest.mark.parametrize("name", ["compose.dev.yml", "compose.prod.yml"])
def test_only_the_realtime_engine_consumes_mqtt(name):
    services = load(name)["services"]
    consumers = [
        service_name
        for service_name, service in services.items()
        if str(service.get("environment", {}).get("MQTT_CONSUMER_ENABLED", "")).lower() == "true"
    ]
    assert consumers == CONSUMERS[name]


@pytest.mark.parametrize("name", ["compose.dev.yml", "compose.prod.yml"])
def test_each_ingest_worker_has_its_own_replica_slot_and_time_to_drain(name):
    services = load(name)["services"]
    consumers = [services[service_name] for service_name in CONSUMERS[name]]
    slots = [service["environment"]["INGEST_REPLICA_SLOT"] for service in consumers]
    assert len(set(slots)) == len(slots)
    for service in consumers:
        assert "replicas" not in service.get("deploy", {})  # replicas share one slot
        assert int(service["stop_grace_period"].rstrip("s")) > 5  # INGEST_DRAIN_S


def test_production_has_broker_auth_redis_password_restarts_and_limits():
    services = load("compose.prod.yml")["services"]
    broker_conf = (ROOT / "deploy/mosquitto/mosquitto.prod.conf").read_text()
    assert "allow_anonymous false" in broker_conf
    assert "password_file" in broker_conf
    assert "--requirepass" in " ".join(services["redis"]["command"])
    assert "${MQTT_PASSWORD" in services["web"]["environment"]["MQTT_URL"]
    for service_name, service in services.items():
        assert service.get("restart") == "unless-stopped", service_name
        assert service["deploy"]["resources"]["limits"], service_name


def test_production_redis_keeps_an_append_only_file_on_a_volume():
    # The DLQ and Celery's queue survive a Redis restart; hot state is rebuilt if lost.
    compose = load("compose.prod.yml")
    redis = compose["services"]["redis"]
    command = " ".join(redis["command"])
    assert "--appendonly yes" in command
    assert "--appendfsync everysec" in command
    assert "--dir /data" in command
    volume = next(v for v in redis["volumes"] if v.endswith(":/data"))
    assert volume.split(":")[0] in compose["volumes"]


def test_production_holds_no_literal_secret():
    text = (ROOT / "compose.prod.yml").read_text()
    assert "SECRET_KEY" not in text.replace("DATABUS_REQUIRE_SECRET_KEY", "")
    literal = re.findall(r"^\s*\w*PASSWORD\w*:\s+(?!\$\{).+$", text, flags=re.MULTILINE)
    assert literal == []


@pytest.mark.parametrize("conf", ["mosquitto.conf", "mosquitto.prod.conf"])
def test_shipped_broker_keeps_every_queued_qos1_message(conf):
    text = (ROOT / "deploy/mosquitto" / conf).read_text()
    assert "max_queued_messages 0" in text
    assert "max_inflight_messages 0" in text
    assert "autosave_interval 1" in text


def test_dockerfile_is_multistage_and_runs_as_non_root():
    text = (ROOT / "Dockerfile").read_text()
    assert text.count("FROM ") == 2
    runtime = text.split("AS runtime", 1)[1]
    assert "build-essential" not in runtime
    assert "USER databus" in runtime
