"""Settings come from the environment; a bad value stops startup with a clear message."""

import os
import subprocess
import sys

import pytest

from backend import env


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
    result = subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        env={
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "backend.settings",
            "DATABASE_URL": "mysql://root@localhost/databus",
        },
        capture_output=True,
        text=True,
        timeout=60,
    )
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
