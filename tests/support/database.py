"""The database Django points at now, as a ``DATABASE_URL`` for child processes."""

from __future__ import annotations

from django.db import connection


def current_database_url() -> str:
    """The URL of the default connection's database (the test database inside a test)."""
    params = connection.settings_dict
    password = f":{params['PASSWORD']}" if params["PASSWORD"] else ""
    return (
        f"postgres://{params['USER']}{password}@{params['HOST']}:{params['PORT']}/{params['NAME']}"
    )
