"""Database users outside the request cycle survive a connection the server dropped.

``pg_terminate_backend`` ends this process's backend exactly as a PostgreSQL restart
does (the server side goes away, the client learns it on its next query). Then: the
ingest thread's per-batch ``heal_connections`` reconnects before the next query, and
the per-process caches keep serving what they hold, trying the database again only
after ``RETRY_AFTER_S`` instead of on every lookup.
"""

from __future__ import annotations

import time

import psycopg
import pytest
from django.db import DatabaseError, connection
from django.test.utils import CaptureQueriesContext

from databus.db_health import RETRY_AFTER_S, heal_connections
from realtime_engine import segment_history, trip_schedules
from schedule_engine import geometry_cache
from schedule_engine.testing import TINY_FEED, import_feed, write_feed

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def reconnect_after():
    """The test database is flushed after each test: through a connection that works."""
    yield
    connection.close()


def drop_this_backend() -> None:
    """End this process's database session from another connection, as a restart does."""
    connection.ensure_connection()
    pid = connection.connection.info.backend_pid
    params = connection.get_connection_params()
    with psycopg.connect(**params, autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", [pid])


def retry_is_due(monkeypatch) -> None:
    """Move the caches' clock past the retry interval."""
    real = time.monotonic
    monkeypatch.setattr(time, "monotonic", lambda: real() + RETRY_AFTER_S + 1)


def one() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        return cursor.fetchone()[0]


@pytest.fixture
def tiny_feed(tmp_path):
    feed = import_feed(write_feed(tmp_path / "tiny", TINY_FEED))
    trip_schedules.clear()
    segment_history.invalidate()
    yield feed
    trip_schedules.clear()
    segment_history.invalidate()


def test_without_healing_a_dropped_connection_stays_dead():
    one()
    drop_this_backend()
    for _ in range(2):
        with pytest.raises(DatabaseError):
            one()


def test_heal_connections_reconnects_before_the_first_query_after_a_drop():
    one()
    drop_this_backend()
    heal_connections()  # the batch boundary: nothing has failed yet
    assert one() == 1


def test_heal_connections_reopens_a_connection_that_failed():
    one()
    drop_this_backend()
    with pytest.raises(DatabaseError):
        one()
    heal_connections()
    assert one() == 1


def test_geometry_cache_serves_its_geometries_through_an_outage_and_retries_later(
    tiny_feed, monkeypatch
):
    held = geometry_cache.trip_geometry("T1")
    assert held is not None
    geometry_cache.invalidate()  # the periodic re-read of the current feed is due
    drop_this_backend()

    assert geometry_cache.trip_geometry("T1") is held  # the failed re-read did not raise
    with CaptureQueriesContext(connection) as queries:
        assert geometry_cache.trip_geometry("T1") is held
    assert len(queries) == 0, "retried on the next lookup, not later"

    heal_connections()
    retry_is_due(monkeypatch)
    with CaptureQueriesContext(connection) as queries:
        assert geometry_cache.trip_geometry("T1") is held  # same version: kept, not rebuilt
    assert len(queries) == 1, "the current feed is read again once the database is back"


def test_trip_schedules_serve_an_expired_entry_through_an_outage(tiny_feed, monkeypatch):
    geometry = geometry_cache.trip_geometry("T1")
    held = trip_schedules.trip_schedule_get("T1", geometry)
    assert held is not None
    monkeypatch.setattr(trip_schedules, "TTL_S", 0.0)  # every entry is due for a re-read
    drop_this_backend()

    assert trip_schedules.trip_schedule_get("T1", geometry) is held
    with CaptureQueriesContext(connection) as queries:
        assert trip_schedules.trip_schedule_get("T1", geometry) is held
    assert len(queries) == 0, "retried on the next lookup, not later"

    heal_connections()
    retry_is_due(monkeypatch)
    with CaptureQueriesContext(connection) as queries:
        fresh = trip_schedules.trip_schedule_get("T1", geometry)
    assert len(queries) >= 1, "read again once the database is back"
    # The same stop times read again keep their object: trips prepared from it stay valid.
    assert fresh is held and fresh.trip.trip_id == "T1"


def test_segment_history_serves_the_last_history_through_an_outage(tiny_feed):
    held = segment_history.segment_history_get()
    drop_this_backend()

    # The reload (the reload thread's, here in this thread to drop its connection).
    assert segment_history.segment_history_reload() is held
    with CaptureQueriesContext(connection) as queries:
        assert segment_history.segment_history_get() is held
    assert len(queries) == 0, "not retried on the next call"
    assert not segment_history.reload_in_flight(), "nor due before the retry interval"

    heal_connections()
    with CaptureQueriesContext(connection) as queries:
        segment_history.segment_history_reload()
    assert len(queries) == 1, "reloaded once the database is back"


def test_segment_history_is_empty_not_an_error_when_never_read(tiny_feed):
    drop_this_backend()
    assert segment_history.segment_history_get() == {}
