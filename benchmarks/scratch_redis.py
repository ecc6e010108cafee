"""A throwaway Redis server for a benchmark, so that it never writes into the configured one.

A benchmark's thousands of synthetic vehicles would otherwise stay in the hot state
that ``make demo`` and a real deployment read (and show up in their feeds and live
map). ``scratch_redis`` starts a private ``redis-server`` on a free port and points
every Redis URL of this process, and of the children it starts, at it. Enter it
before ``django.setup()``: settings read those URLs once.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from tests.support.processes import start_redis

# Database numbers as the defaults in backend/settings.py lay them out.
REDIS_DATABASES = {"REDIS_URL": 0, "CELERY_BROKER_URL": 1, "CHANNEL_REDIS_URL": 2}


@contextlib.contextmanager
def scratch_redis() -> Iterator[int]:
    """Run a private Redis for the duration; yields its port."""
    with tempfile.TemporaryDirectory(prefix="databus-bench-redis-") as workdir:
        handle, port = start_redis(Path(workdir))
        previous = {name: os.environ.get(name) for name in REDIS_DATABASES}
        os.environ.update(
            {name: f"redis://127.0.0.1:{port}/{db}" for name, db in REDIS_DATABASES.items()}
        )
        try:
            yield port
        finally:
            handle.stop()
            for name, value in previous.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value
