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
# Alerting and dashboards run in development (docs/operations.md, "What to watch").
MONITORING = {"compose.dev.yml": {"prometheus", "grafana"}, "compose.prod.yml": set()}
# Production builds the feeds in a worker of their own (docs/scaling.md, "Feeds").
FEED_BUILDERS = {"compose.dev.yml": set(), "compose.prod.yml": {"feed-builder"}}


def load(name: str) -> dict:
    return yaml.safe_load((ROOT / name).read_text())


@pytest.mark.parametrize("name", ["compose.dev.yml", "compose.prod.yml"])
def test_compose_file_names_every_service_with_a_healthcheck(name):
    services = load(name)["services"]
    assert set(services) == SERVICES | set(CONSUMERS[name]) | MONITORING[name] | FEED_BUILDERS[name]
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


def worker_queues(service: dict) -> set[str] | None:
    """The queues a compose service's Celery worker consumes (None: not a worker; every
    queue the settings name when it gives no -Q)."""
    command = service.get("command", [])
    if command[:4] != ["celery", "-A", "databus", "worker"]:
        return None
    if "-Q" not in command:
        return {"celery", "feeds"}
    return set(command[command.index("-Q") + 1].split(","))


def test_production_builds_the_feeds_in_one_process_of_one_worker():
    services = load("compose.prod.yml")["services"]
    consuming = {name: worker_queues(service) for name, service in services.items()}
    assert {name for name, queues in consuming.items() if queues and "feeds" in queues} == {
        "feed-builder"
    }
    assert consuming["feed-builder"] == {"feeds"}
    command = services["feed-builder"]["command"]
    assert command[command.index("--concurrency") + 1] == "1"  # one copy of the caches
    assert all(
        queues is None or "celery" in queues
        for name, queues in consuming.items()
        if name != "feed-builder"
    )


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


# ----- the production broker: identities and TLS (docs/operations.md, "Broker credentials and
# TLS"); what the broker makes of them: realtime_engine/tests/test_broker_credentials.py


def broker_listeners(conf_name: str) -> tuple[dict[str, str], dict[int, dict[str, str]]]:
    """A shipped broker configuration's global options, and each listener's (those that
    follow its line)."""
    conf = (ROOT / "deploy/mosquitto" / conf_name).read_text()
    global_options: dict[str, str] = {}
    listeners: dict[int, dict[str, str]] = {}
    current = global_options
    for line in conf.splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        name, _, value = line.partition(" ")
        if name == "listener":
            current = listeners.setdefault(int(value.split()[0]), {})
        else:
            current[name] = value
    return global_options, listeners


def test_production_broker_takes_vehicles_over_tls_and_keeps_the_plain_listener_inside():
    broker = load("compose.prod.yml")["services"]["mosquitto"]
    conf_name = broker["command"][-1].removeprefix("/mosquitto/config/")
    global_options, listeners = broker_listeners(conf_name)

    assert [str(port).rsplit(":", 1)[-1] for port in broker["ports"]] == ["8883"]  # no 1883
    assert set(listeners) == {1883, 8883}
    assert listeners[1883] == {}  # plain, for the servers on the compose network
    tls = listeners[8883]
    assert {"certfile", "keyfile", "cafile"} <= set(tls)
    mounts = dict(volume.rsplit(":", 2)[:2] for volume in broker["volumes"])
    certs = next(host for host, inside in mounts.items() if inside == "/mosquitto/certs")
    assert certs.startswith("${MQTT_TLS_CERT_DIR")
    for option in ("certfile", "keyfile", "cafile"):
        assert tls[option].startswith("/mosquitto/certs/")
    # A vehicle can neither reuse another client's id nor reach the ingest's shared group.
    assert tls["use_username_as_clientid"] == "true"
    assert tls["mount_point"].endswith("/")
    assert global_options["allow_anonymous"] == "false"


def test_production_broker_reads_the_generated_files_from_a_mounted_folder():
    broker = load("compose.prod.yml")["services"]["mosquitto"]
    global_options, _ = broker_listeners("mosquitto.prod.conf")
    mounts = dict(volume.rsplit(":", 2)[:2] for volume in broker["volumes"])

    # The folder, not the files: they are replaced by a rename (a file mount keeps the old one).
    assert mounts["./deploy/mosquitto"] == "/mosquitto/config"
    for option in ("password_file", "acl_file"):
        assert global_options[option].startswith("/mosquitto/config/")
    assert "env_file" not in broker  # the broker gets the healthcheck's account, nothing else


def test_production_servers_subscribe_under_the_vehicle_listeners_mount_point():
    _, listeners = broker_listeners("mosquitto.prod.conf")
    example = (ROOT / ".env.prod.example").read_text().splitlines()
    env = dict(line.split("=", 1) for line in example if "=" in line and not line.startswith("#"))
    assert env["MQTT_TOPIC_ROOT"].startswith(listeners[8883]["mount_point"])
    assert "MQTT_TLS_CERT_DIR" in env


# ----- compose.dev's Prometheus and Grafana (deploy/prometheus, deploy/grafana); promtool's
# check of the configuration: tests/test_prometheus_rules.py


def mounts_of(service: dict) -> dict[str, tuple[str, str]]:
    """Container path -> (host path, mode) of a service's bind mounts."""
    found = {}
    for volume in service["volumes"]:
        host, inside, *mode = volume.split(":")
        found[inside] = (host, mode[0] if mode else "rw")
    return found


def test_development_prometheus_loads_the_rules_and_scrapes_web_and_every_worker():
    services = load("compose.dev.yml")["services"]
    prometheus = services["prometheus"]
    assert prometheus["image"].startswith("prom/prometheus:")
    assert mounts_of(prometheus)["/etc/prometheus"] == ("./deploy/prometheus", "ro")
    config = yaml.safe_load((ROOT / "deploy/prometheus/prometheus.yml").read_text())
    assert config["rule_files"] == ["rules.yml"]
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}

    web = jobs["web"]
    web_port = services["web"]["command"][-1].split("--port ", 1)[1].split()[0]
    assert web["static_configs"][0]["targets"] == [f"web:{web_port}"]
    assert web["metrics_path"] == "/metrics"
    # The bearer token is the one web checks, written where the config reads it.
    token = services["web"]["environment"]["METRICS_TOKEN"]
    assert prometheus["environment"]["METRICS_TOKEN"] == token
    assert len(token.split(":-", 1)[1].rstrip("}")) >= 32  # settings refuse a shorter one
    assert web["authorization"]["type"] == "Bearer"
    token_file = web["authorization"]["credentials_file"]
    assert f'"$$METRICS_TOKEN" > {token_file} &&' in prometheus["entrypoint"][-1]
    assert "--config.file=/etc/prometheus/prometheus.yml" in prometheus["entrypoint"][-1]

    workers = [
        service_name
        for service_name, service in services.items()
        if service.get("command", [])[3:4] == ["worker"]  # celery -A databus worker
    ]
    assert workers == ["realtime-engine", "schedule-engine"]
    assert sorted(jobs["workers"]["static_configs"][0]["targets"]) == [
        f"{worker}:9808"
        for worker in workers  # WORKER_METRICS_PORT's default
    ]


def test_development_grafana_provisions_the_dashboard_and_the_data_source():
    grafana = load("compose.dev.yml")["services"]["grafana"]
    mounts = mounts_of(grafana)
    assert mounts["/etc/grafana/provisioning"] == ("./deploy/grafana/provisioning", "ro")
    provider = yaml.safe_load(
        (ROOT / "deploy/grafana/provisioning/dashboards/databus.yml").read_text()
    )["providers"][0]
    dashboard = f"{provider['options']['path']}/databus.json"
    assert mounts[dashboard] == ("./deploy/grafana/databus.json", "ro")
    datasource = yaml.safe_load(
        (ROOT / "deploy/grafana/provisioning/datasources/prometheus.yml").read_text()
    )["datasources"][0]
    assert datasource["url"] == "http://prometheus:9090"
