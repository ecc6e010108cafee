"""A throwaway PostgreSQL database for a benchmark: created, migrated, dropped afterwards.

Benchmarks never write into the configured database. ``scratch_database`` points
Django's default connection at ``<name>_bench_<suffix>``; ``database_url`` gives child
processes (workers, web, importers) the same database. Needs Django set up.
"""

from __future__ import annotations

import psycopg
from django.conf import settings
from django.core.management import call_command
from django.db import connections

from tests.support.database import current_database_url as database_url

__all__ = ["database_url", "drop_database", "scratch_database"]


def _admin_connection() -> psycopg.Connection:
    params = settings.DATABASES["default"]
    return psycopg.connect(
        host=params["HOST"],
        port=params["PORT"],
        user=params["USER"],
        password=params["PASSWORD"],
        dbname="postgres",
        autocommit=True,
    )


def scratch_database(suffix: str, *, app_label: str | None = None) -> str:
    """Create and migrate ``<name>_bench_<suffix>`` (all apps, or one) and point Django at it."""
    params = settings.DATABASES["default"]
    name = f"{params['NAME']}_bench_{suffix}"
    with _admin_connection() as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    connections.close_all()
    params["NAME"] = name
    call_command("migrate", *([app_label] if app_label else []), verbosity=0)
    return name


def drop_database(name: str) -> None:
    connections.close_all()
    with _admin_connection() as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
