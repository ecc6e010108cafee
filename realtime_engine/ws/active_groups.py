"""Which live groups have watchers: a sorted set in hot state, refreshed by the consumers.

The consumer touches a group when a client subscribes and again on every heartbeat;
the position fan-out reads the set once per tick and sends only to groups someone
watches (per-vehicle, per-run and per-route groups are many; most have nobody).
Entries older than ``ttl_s`` count as gone, so a crashed web process leaves no debt.
"""

from __future__ import annotations

import time
from collections.abc import Iterable

import redis
from django.conf import settings

from databus import keys


def ttl_s() -> float:
    # Three missed heartbeats before a group counts as unwatched.
    return 3 * settings.LIVE_WS_HEARTBEAT_S


def active_groups_touch(client: redis.Redis, groups: Iterable[str]) -> None:
    groups = list(groups)
    if groups:
        now = time.time()
        client.zadd(keys.LIVE_ACTIVE_GROUPS, dict.fromkeys(groups, now))


def active_groups_queue(pipe, now: float) -> None:
    """Queue, on ``pipe``, a trim of stale entries and then the read of live ones."""
    cutoff = now - ttl_s()
    pipe.zremrangebyscore(keys.LIVE_ACTIVE_GROUPS, "-inf", cutoff)
    pipe.zrangebyscore(keys.LIVE_ACTIVE_GROUPS, cutoff, "+inf")
