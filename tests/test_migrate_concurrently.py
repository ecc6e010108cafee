"""Two instances that start at once both migrate the same fresh database, and both succeed.

Without the advisory lock (``schedule_engine/management/commands/migrate.py``) one of
the two fails on a table the other just created: measured 3 of 3 times here.
"""

from __future__ import annotations

import os
import subprocess
import sys

import psycopg
import pytest
from django.db import connection

from tests.support.database import current_database_url
from tests.support.processes import ROOT

pytestmark = pytest.mark.django_db


@pytest.fixture
def fresh_database():
    """An empty database beside the test database; yields its DATABASE_URL."""
    params = connection.get_connection_params()
    name = f"{connection.settings_dict['NAME']}_migrate"
    admin_params = {**params, "dbname": "postgres"}
    with psycopg.connect(**admin_params, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{name}"')
    url = f"{current_database_url().rsplit('/', 1)[0]}/{name}"
    yield url, {**params, "dbname": name}
    with psycopg.connect(**admin_params, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_two_concurrent_migrates_of_a_fresh_database_both_succeed(fresh_database):
    url, params = fresh_database
    env = {**os.environ, "DATABASE_URL": url}
    command = [sys.executable, "manage.py", "migrate", "--noinput"]
    migrates = [
        subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
        )
        for _ in range(2)
    ]
    outputs = [m.communicate(timeout=60)[0].decode() for m in migrates]

    for migrate, output in zip(migrates, outputs, strict=True):
        assert migrate.returncode == 0, output
    with psycopg.connect(**params) as conn:
        rows = conn.execute("SELECT app, name FROM django_migrations").fetchall()
    assert len(rows) == len(set(rows)), "a migration was recorded twice"
    assert ("runs", "0001_initial") in rows
    # Whoever came second found everything applied.
    assert any("No migrations to apply" in output for output in outputs), outputs
