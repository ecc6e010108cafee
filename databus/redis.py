"""The one Redis client factory for hot state.

Every caller gets a client with ``decode_responses=True``: hot state is text,
and mixing bytes and str clients is a bug we do not want to have. The one exception is
the published feeds' payloads (``schedule_engine.feeds.store``), read and written through
``binary_twin``: as base64 text a 50,000-run TripUpdates payload cost every request
0.23 s of decoding and every build 0.11 s of encoding. Bytes that are
not UTF-8 (a hash corrupted by hand or by a stray writer) decode with U+FFFD in
place of each bad byte instead of raising: one such value would otherwise fail the
whole pipeline reply, and with it every feed build; the contracts then refuse the value.
"""

from __future__ import annotations

import os
from functools import cache

import redis
from django.conf import settings


@cache
def _pool(url: str) -> redis.ConnectionPool:
    return redis.ConnectionPool.from_url(
        url,
        decode_responses=True,
        encoding_errors="replace",
        socket_connect_timeout=2,
        socket_timeout=5,
        health_check_interval=30,
    )


# A forked child (celery beat embedded in a worker, prefork pool processes) starts with fresh
# pools: an inherited one may hold its lock for a thread that does not exist in the child
# (the worker's ingest or hot-state watch thread mid-command at the fork), and redis-py's
# own after-fork reset takes that lock, so the child's first command waited forever.
os.register_at_fork(after_in_child=_pool.cache_clear)

# The binary pool beside each text pool (``binary_twin``), by the text pool.
_binary_pools: dict[redis.ConnectionPool, redis.ConnectionPool] = {}
os.register_at_fork(after_in_child=_binary_pools.clear)


def get_redis(url: str | None = None) -> redis.Redis:
    """A client on the shared pool for ``url`` (default: ``settings.REDIS_URL``)."""
    return redis.Redis(connection_pool=_pool(url or settings.REDIS_URL))


def binary_twin(client: redis.Redis) -> redis.Redis:
    """A client on ``client``'s server and database whose replies are bytes."""
    pool = client.connection_pool
    twin = _binary_pools.get(pool)
    if twin is None:
        kwargs = {**pool.connection_kwargs, "decode_responses": False}
        twin = redis.ConnectionPool(connection_class=pool.connection_class, **kwargs)
        _binary_pools[pool] = twin
    return redis.Redis(connection_pool=twin)
