"""The STREAMS_* settings are bounded: a value the consumer cannot run with stops Django's
start-up with every problem named."""

from __future__ import annotations

from django.conf import settings

from databus import keys
from tests.support.startup import django_setup, environ_with


def test_the_defaults_read_the_gateways_stream_in_group_databus():
    assert settings.STREAMS_KEYS == [keys.TELEMETRY_AVL_STREAM]
    assert settings.STREAMS_GROUP == "databus"
    assert settings.STREAMS_CONSUMER_ENABLED is False
    assert settings.STREAMS_BLOCK_MS < 5000  # under the Redis client's socket timeout


def test_out_of_bounds_streams_settings_stop_django_start_up_naming_each():
    result = django_setup(
        environ_with(
            {
                "STREAMS_KEYS": " , ",
                "STREAMS_BLOCK_MS": "9000",
                "STREAMS_CLAIM_INTERVAL_S": "0",
                "STREAMS_BATCH_MAX": "50000",
            }
        )
    )
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    for problem in (
        "STREAMS_KEYS names no stream",
        "STREAMS_BLOCK_MS must be at most 4000",
        "STREAMS_CLAIM_INTERVAL_S must be between 0.1 and 3600",
        "STREAMS_BATCH_MAX must be at most 10000",
    ):
        assert problem in result.stderr
