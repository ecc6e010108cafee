"""Settings come from the environment; a bad value stops startup with a clear message."""

import http.client
import json
import os
import subprocess
import sys
from dataclasses import asdict
from pathlib import Path

import pytest

from databus import env
from tests.support.startup import django_setup, environ_with

ROOT = Path(__file__).resolve().parent.parent


def test_database_url_parses_host_port_name_and_credentials():
    address = env.parse_database_url("postgres://bus:s%40cret@db.example:6543/transit")
    assert (address.host, address.port, address.name) == ("db.example", 6543, "transit")
    assert (address.user, address.password) == ("bus", "s@cret")


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("mysql://root@localhost/databus", "scheme must be postgres://"),
        ("postgres://postgres@127.0.0.1:5432/", "missing database name"),
        ("postgres://postgres@127.0.0.1:notaport/db", "port is not a number"),
    ],
)
def test_bad_database_url_names_the_variable_and_the_problem(url, message):
    with pytest.raises(env.ConfigError, match=message) as caught:
        env.parse_database_url(url)
    assert "DATABASE_URL" in str(caught.value)


def test_bad_database_url_stops_django_startup_with_that_message():
    result = django_setup(environ_with({"DATABASE_URL": "mysql://root@localhost/databus"}))
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert (
        "DATABASE_URL='mysql://root@localhost/databus': scheme must be postgres://" in result.stderr
    )


def test_password_is_redacted_in_errors():
    with pytest.raises(env.ConfigError) as caught:
        env.parse_database_url("mysql://root:hunter2@localhost/db")
    assert "hunter2" not in str(caught.value)


def test_mqtt_url_with_credentials_and_tls():
    address = env.parse_mqtt_url("mqtts://ingest:pw@broker.example")
    assert (address.host, address.port, address.tls) == ("broker.example", 8883, True)
    assert (address.username, address.password) == ("ingest", "pw")
    plain = env.parse_mqtt_url("mqtt://127.0.0.1:1884")
    assert (plain.port, plain.tls, plain.username) == (1884, False, None)


@pytest.mark.parametrize("url", ["http://broker", "mqtt://"])
def test_bad_mqtt_url_is_refused(url):
    with pytest.raises(env.ConfigError, match="MQTT_URL"):
        env.parse_mqtt_url(url)


def test_redis_url_database_index():
    assert env.parse_redis_url("redis://:pw@cache:6380/3").db == 3
    with pytest.raises(env.ConfigError, match="database index"):
        env.parse_redis_url("redis://cache/notanumber")


def test_booleans_and_integers(monkeypatch):
    monkeypatch.setenv("FLAG", "TRUE")
    assert env.env_bool("FLAG") is True
    monkeypatch.setenv("FLAG", "maybe")
    with pytest.raises(env.ConfigError, match="FLAG='maybe' is not a boolean"):
        env.env_bool("FLAG")
    monkeypatch.setenv("N", "0")
    with pytest.raises(env.ConfigError, match="must be at least 1"):
        env.env_int("N", 5, minimum=1)


# --- Production settings (security): `check --deploy`, HTTPS behind a proxy, one switch ---

PRODUCTION_SWITCH = {"DEBUG": "false", "DATABUS_REQUIRE_SECRET_KEY": "true"}


def django_env(extra: dict[str, str]) -> dict[str, str]:
    """A child process's environment: the interpreter's basics and ``extra``, nothing else."""
    keep = ("PATH", "HOME", "LANG", "LC_ALL", "VIRTUAL_ENV", "SYSTEMROOT")
    return {
        **{name: os.environ[name] for name in keep if name in os.environ},
        "DJANGO_SETTINGS_MODULE": "backend.settings",
        **extra,
    }


def test_check_deploy_prints_no_warning_with_the_production_compose_env():
    from tests.support.production_env import web_service_env

    production = web_service_env()
    assert {name: production[name] for name in PRODUCTION_SWITCH} == PRODUCTION_SWITCH
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=django_env(production),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues (1 silenced)." in result.stdout, result.stdout


def test_check_deploy_names_the_missing_protections_without_the_production_switch():
    """The test above can fail: the same env in development mode trips the checks."""
    from tests.support.production_env import web_service_env

    development = {
        **{k: v for k, v in web_service_env().items() if not k.startswith("SECURE_HSTS")},
        "DATABUS_REQUIRE_SECRET_KEY": "false",
    }
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy"],
        cwd=ROOT,
        env=django_env(development),
        capture_output=True,
        text=True,
        timeout=120,
    )
    for warning in ("security.W004", "security.W008", "security.W012", "security.W016"):
        assert warning in result.stderr + result.stdout, warning


def printed_settings(extra: dict[str, str], *names: str) -> dict:
    code = (
        "import json, django; django.setup(); from django.conf import settings; "
        f"print(json.dumps({{n: getattr(settings, n) for n in {list(names)!r}}}))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=django_env({"SECRET_KEY": "x" * 60, **extra}),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


HTTPS_SETTINGS = (
    "SECURE_SSL_REDIRECT",
    "SECURE_HSTS_SECONDS",
    "SESSION_COOKIE_SECURE",
    "CSRF_COOKIE_SECURE",
    "SECURE_PROXY_SSL_HEADER",
)


@pytest.mark.parametrize(
    ("extra", "https"),
    [
        ({}, False),  # tests, `make demo` without DEBUG
        ({"DEBUG": "true"}, False),
        ({"DEBUG": "true", "DATABUS_REQUIRE_SECRET_KEY": "true"}, False),  # the image, DEBUG on
        ({"DATABUS_REQUIRE_SECRET_KEY": "false"}, False),  # compose.dev.yml
        (PRODUCTION_SWITCH, True),
    ],
)
def test_one_switch_turns_the_https_defaults_on(extra, https):
    values = printed_settings(extra, *HTTPS_SETTINGS)
    assert values["SECURE_SSL_REDIRECT"] is https
    assert values["SESSION_COOKIE_SECURE"] is https
    assert values["CSRF_COOKIE_SECURE"] is https
    assert values["SECURE_HSTS_SECONDS"] == (31_536_000 if https else 0)
    assert values["SECURE_PROXY_SSL_HEADER"] is None


def test_each_https_setting_can_be_set_on_its_own():
    values = printed_settings(
        {
            **PRODUCTION_SWITCH,
            "SECURE_SSL_REDIRECT": "false",
            "SECURE_HSTS_SECONDS": "300",
            "SECURE_PROXY_SSL_HEADER": "X-Forwarded-Scheme=HTTPS",
        },
        *HTTPS_SETTINGS,
    )
    assert values["SECURE_SSL_REDIRECT"] is False
    assert values["SECURE_HSTS_SECONDS"] == 300
    assert values["SECURE_PROXY_SSL_HEADER"] == ["HTTP_X_FORWARDED_SCHEME", "HTTPS"]


def test_proxy_ssl_header_parses_a_header_name(monkeypatch):
    monkeypatch.setenv("HEADER", " X-Forwarded-Proto ")
    assert env.env_proxy_ssl_header("HEADER") == ("HTTP_X_FORWARDED_PROTO", "https")
    monkeypatch.setenv("HEADER", "")
    assert env.env_proxy_ssl_header("HEADER") is None
    monkeypatch.setenv("HEADER", "X Forwarded: https")
    with pytest.raises(env.ConfigError, match="HEADER='X Forwarded: https' is not a header"):
        env.env_proxy_ssl_header("HEADER")


def test_a_short_metrics_token_stops_startup():
    result = django_setup(django_env({"METRICS_TOKEN": "short"}))
    assert result.returncode != 0
    assert "METRICS_TOKEN must be at least 32 characters" in result.stderr


def plain_http(port: int, path: str, headers: dict[str, str] | None = None):
    """One request, redirects not followed (urllib would follow them)."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request("GET", path, headers=headers or {})
        response = connection.getresponse()
        response.read()
        return response
    finally:
        connection.close()


def test_production_web_redirects_to_https_but_serves_probes_and_metrics_over_http(
    process_env, tmp_path
):
    """A real uvicorn with the production settings, behind a pretend TLS proxy."""
    from realtime_engine.tests.live_support import start_asgi_server
    from tests.support.production_env import web_healthcheck, web_service_env

    # The web container's settings as compose.prod.yml gives them; this test's services.
    production = web_service_env()
    security = {
        name: value
        for name, value in production.items()
        if name in {*PRODUCTION_SWITCH, "SECRET_KEY", "ALLOWED_HOSTS", "CSRF_TRUSTED_ORIGINS"}
        or name.startswith("SECURE_")
        or name == "METRICS_TOKEN"
    }
    assert security["SECURE_PROXY_SSL_HEADER"] == "X-Forwarded-Proto"
    token = security["METRICS_TOKEN"]
    server = start_asgi_server(process_env, tmp_path / "asgi", **security)
    try:
        page = plain_http(server.port, "/admin/login/")
        assert page.status == 301
        assert page.getheader("Location") == f"https://127.0.0.1:{server.port}/admin/login/"
        for path in ("/healthz", "/readyz"):
            assert plain_http(server.port, path).status == 200, path
        metrics = plain_http(server.port, "/metrics", {"Authorization": f"Bearer {token}"})
        assert metrics.status == 200
        assert plain_http(server.port, "/metrics").status == 401
        # Through the proxy (it says the client spoke TLS): the page, with HSTS and a CSP.
        proxied = plain_http(server.port, "/admin/login/", {"X-Forwarded-Proto": "https"})
        assert proxied.status == 200
        assert proxied.getheader("Strict-Transport-Security") == (
            "max-age=31536000; includeSubDomains"
        )
        assert "default-src 'self'" in proxied.getheader("Content-Security-Policy")
        cookie = proxied.getheader("Set-Cookie")
        assert cookie.startswith("csrftoken=") and "Secure" in cookie
        # The compose healthcheck, as written in compose.prod.yml, passes.
        check = subprocess.run(web_healthcheck(server.port), capture_output=True, timeout=30)
        assert check.returncode == 0, check.stderr
    finally:
        server.handle.stop()


# --- Thresholds: one spelling of each default (the domain's), settings only override ---

THRESHOLDS_IN_FORCE = """
import json
from dataclasses import asdict
import django
django.setup()
from runs.services.thresholds import progression_config_get, thresholds_get
print(json.dumps([asdict(thresholds_get()), asdict(progression_config_get())]))
"""


def test_unset_threshold_settings_give_the_domain_defaults():
    from runs.domain.lifecycle.thresholds import Thresholds
    from runs.domain.progression.config import ProgressionConfig

    def in_force(extra: dict[str, str]) -> list[dict]:
        result = subprocess.run(
            [sys.executable, "-c", THRESHOLDS_IN_FORCE],
            cwd=ROOT,
            env=django_env(extra),
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout.strip().splitlines()[-1])

    detection, matching = Thresholds(), ProgressionConfig()
    # The matcher records the terminal arrival within the completion detector's zone.
    expected_matching = {**asdict(matching), "terminal_radius_m": detection.terminal_zone_m}
    assert in_force({}) == [asdict(detection), expected_matching]
    # An environment variable overrides its default, and only it.
    detection_s, matching_s = in_force(
        {"RUN_STALE_AFTER_S": "4", "PROGRESSION_STOPPED_MAX_SPEED_MPS": "-1"}
    )
    assert detection_s == {**asdict(detection), "stale_after_s": 4.0}
    assert matching_s == {**expected_matching, "stopped_max_speed_mps": None}
