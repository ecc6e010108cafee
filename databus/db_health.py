"""Database users outside Django's request cycle survive a PostgreSQL restart.

Django heals a request's connection at the request boundary (``close_old_connections``
on request_started/finished) and Celery's Django fixup closes the connections around
every task. A long-lived thread, such as the MQTT ingest thread, has no such boundary:
a connection the server dropped stays dead in it, and every later query fails.
``heal_connections`` is that boundary for such a thread; per-process caches use
``Outage`` to keep serving their last value while the database cannot be read.
"""

from __future__ import annotations

import logging

from django.db import InterfaceError, OperationalError, close_old_connections, connections

logger = logging.getLogger(__name__)

# What a lost or refused connection raises through Django (psycopg's errors, wrapped).
DATABASE_UNAVAILABLE: tuple[type[Exception], ...] = (OperationalError, InterfaceError)

# A cache whose refresh failed tries again this much later, not on every lookup: the
# ingest thread must not pay a connection attempt per batch while PostgreSQL is down.
RETRY_AFTER_S = 5.0


def heal_connections() -> None:
    """Close this thread's connections that raised or outlived CONN_MAX_AGE.

    Django's own request boundary. It also re-arms CONN_HEALTH_CHECKS, so the next
    query first checks (``SELECT 1``) a connection the server may have dropped since,
    and reconnects instead of failing. Inside a transaction there is no boundary: a
    caller in an atomic block (a test's, or a command's) keeps its connection.
    """
    if any(conn.in_atomic_block for conn in connections.all(initialized_only=True)):
        return
    close_old_connections()


class Outage:
    """One cache's view of a database outage: says once when it starts and when it ends."""

    def __init__(self, what: str) -> None:
        self.what = what
        self.failing = False

    def failed(self, error: Exception) -> None:
        if not self.failing:
            logger.warning(
                "%s: database unavailable (%s); serving the last value, retrying every %.0f s",
                self.what,
                str(error).strip() or type(error).__name__,
                RETRY_AFTER_S,
            )
        self.failing = True

    def recovered(self) -> None:
        if self.failing:
            logger.info("%s: database readable again", self.what)
        self.failing = False
