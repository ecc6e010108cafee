"""Every worker notices a Redis that lost its data and rebuilds hot state from PostgreSQL.

A daemon thread, started by the worker's ``worker_ready`` signal (``realtime_engine.apps``),
reads the epoch marker (``keys.HOT_STATE_EPOCH``) at start and every
``HOT_STATE_CHECK_INTERVAL_S`` (0: never). A missing marker means Redis came back
empty (a restart without persistence, a FLUSHALL, a failover to an empty replica): the
thread runs ``hot_state_rebuild``, which writes the marker. Several workers may notice
at once; the rebuild's lock lets one of them do it and the others find the marker on
their next check. (A Celery broker on the same Redis loses its queued tasks and
bindings too; kombu's Redis transport still routes new tasks to the default queue, so
beat's feed builds and scans carry on: the acceptance test checks it.)
"""

from __future__ import annotations

import logging
import threading

import redis
from django.conf import settings
from django.db import DatabaseError, close_old_connections

from databus.redis import get_redis
from realtime_engine.hot_state_rebuild import RebuildReport, hot_state_epoch, hot_state_rebuild

logger = logging.getLogger(__name__)


def check_and_rebuild(client: redis.Redis, *, trigger: str) -> RebuildReport | None:
    """Rebuild if the marker is missing; the report, or None when hot state was intact."""
    if hot_state_epoch(client) is not None:
        return None
    logger.warning("hot-state epoch marker missing: Redis lost its data; rebuilding (%s)", trigger)
    return hot_state_rebuild(client, trigger=trigger)


class HotStateWatch:
    """The checking thread of one worker process."""

    def __init__(self, interval_s: float) -> None:
        self.interval_s = interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="hot-state-watch", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self._thread.join(timeout)

    def _run(self) -> None:
        trigger = "start"
        while not self._stop.is_set():
            try:
                check_and_rebuild(get_redis(), trigger=trigger)
            except (redis.RedisError, DatabaseError):
                # Redis or PostgreSQL is down: the next check tries again.
                logger.warning("hot-state check failed; retrying", exc_info=True)
            except Exception:
                logger.exception("hot-state check failed; retrying")
            finally:
                close_old_connections()  # this thread's connection, if it broke or aged
            trigger = "lost"
            self._stop.wait(self.interval_s)


_watch: HotStateWatch | None = None


def start() -> None:
    """Start this process's watch (the ``worker_ready`` handler); a no-op when disabled."""
    global _watch
    interval = settings.HOT_STATE_CHECK_INTERVAL_S
    if interval <= 0 or _watch is not None:
        return
    _watch = HotStateWatch(interval)
    _watch.start()
    logger.info("hot-state watch started (every %.1f s)", interval)


def stop() -> None:
    """Stop the watch (the ``worker_shutting_down`` handler)."""
    global _watch
    if _watch is not None:
        _watch.stop()
        _watch = None
