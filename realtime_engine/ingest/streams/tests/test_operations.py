"""`manage.py streams status|claim|trim` and the /readyz lag probe, against the real Redis
and PostgreSQL: what an operator reads and does when an instance is lost or the stream grows."""

from __future__ import annotations

import time
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from backend.health.probes import probe_streams_lag
from realtime_engine.ingest.streams.tests.support import (
    GROUP,
    STREAM,
    add_entries,
    fix,
    pending,
    register_trackers,
    row_count,
)


def run(*args: str) -> str:
    out = StringIO()
    call_command("streams", *args, stdout=out)
    return out.getvalue()


def dead_consumer_left(redis_client, count: int, *, name: str = "lost-1") -> list[str]:
    """A consumer that read ``count`` entries and died before acknowledging them."""
    redis_client.xgroup_create(STREAM, GROUP, id="0", mkstream=True)
    ids = add_entries(redis_client, (fix(n, trackers=2) for n in range(count)))
    redis_client.xreadgroup(GROUP, name, {STREAM: ">"}, count=count)
    return ids


def test_status_shows_length_lag_pending_and_consumers(transactional_db, redis_client):
    dead_consumer_left(redis_client, 4)
    add_entries(redis_client, [fix(10, trackers=2)])  # written, not read by anyone yet
    status = run("status")
    assert f"{STREAM}: length 5, group {GROUP}: lag 1, pending 4" in status
    assert "lost-1" in status and "pending       4" in status


def test_claim_stores_a_lost_consumers_entries_and_removes_it_once_empty(
    transactional_db, redis_client, settings
):
    register_trackers(2)
    settings.STREAMS_CLAIM_IDLE_MS = 200
    dead_consumer_left(redis_client, 6)
    time.sleep(0.3)
    out = run("claim", "--delete-idle-consumers")
    assert "claimed 6 entries" in out
    assert row_count() == 6
    assert pending(redis_client) == 0
    assert "removed consumer lost-1" in out
    assert redis_client.xinfo_consumers(STREAM, GROUP) == []


def test_claim_leaves_a_consumer_that_still_holds_entries(transactional_db, redis_client, settings):
    settings.STREAMS_CLAIM_IDLE_MS = 60_000  # not idle long enough to be claimed
    dead_consumer_left(redis_client, 2)
    out = run("claim", "--delete-idle-consumers")
    assert "claimed 0 entries" in out and "lost-1" not in out
    assert [c["name"] for c in redis_client.xinfo_consumers(STREAM, GROUP)] == ["lost-1"]


def test_trim_refuses_to_drop_unacknowledged_entries_unless_forced(transactional_db, redis_client):
    dead_consumer_left(redis_client, 5)
    with pytest.raises(CommandError, match="unacknowledged"):
        run("trim", "--maxlen", "2")
    assert redis_client.xlen(STREAM) == 5
    assert "trimmed 3 entries" in run("trim", "--maxlen", "2", "--force")
    assert redis_client.xlen(STREAM) == 2


def test_trim_of_acknowledged_entries_needs_no_force(transactional_db, redis_client):
    ids = dead_consumer_left(redis_client, 5)
    redis_client.xack(STREAM, GROUP, *ids[:3])
    with pytest.raises(CommandError, match="unacknowledged entries from"):
        run("trim", "--minid", ids[4])
    assert "trimmed 3 entries" in run("trim", "--minid", ids[3])
    # Written but never read by the group: refused too.
    add_entries(redis_client, [fix(20, trackers=2)])
    redis_client.xack(STREAM, GROUP, *ids[3:])
    with pytest.raises(CommandError, match="has not read"):
        run("trim", "--maxlen", "0")


def test_readyz_warns_when_the_group_lags(transactional_db, redis_client, settings):
    assert probe_streams_lag().ok  # no stream, no group: the ingress is not in use
    settings.STREAMS_READY_LAG_WARN = 3
    dead_consumer_left(redis_client, 1)
    add_entries(redis_client, (fix(n, trackers=2) for n in range(3)))
    result = probe_streams_lag()
    assert result.ok and result.warn_only and "lag 3, pending 1" in result.detail
    add_entries(redis_client, [fix(5, trackers=2)])
    result = probe_streams_lag()
    assert not result.ok and result.warn_only and "lag 4" in result.detail
