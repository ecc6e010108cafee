"""Bulk loading of model rows with PostgreSQL binary COPY (psycopg 3).

Used by the loader inside the import transaction; the column types come from
the model fields so a row tuple is written as it is, without SQL per row.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from django.db import connection, models

# Django column type → the PostgreSQL type name psycopg's binary COPY dumps to.
COPY_TYPES = {
    "integer": "int4",
    "smallint": "int2",
    "bigint": "int8",
    "double precision": "float8",
    "boolean": "bool",
    "date": "date",
    "text": "text",
}


@contextmanager
def copy_into(model: type[models.Model], fields: tuple[str, ...]) -> Iterator:
    """Yield a psycopg `Copy` whose `write_row` takes tuples in the order of ``fields``."""
    meta = model._meta
    columns = [meta.get_field(name) for name in fields]
    types = []
    for field in columns:
        db_type = field.db_type(connection)
        types.append(COPY_TYPES.get(db_type, db_type))
    column_list = ", ".join(connection.ops.quote_name(field.column) for field in columns)
    table = connection.ops.quote_name(meta.db_table)
    sql = f"COPY {table} ({column_list}) FROM STDIN (FORMAT BINARY)"
    with connection.cursor() as cursor, cursor.cursor.copy(sql) as copy:
        copy.set_types(types)
        yield copy
