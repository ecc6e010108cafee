"""CSV for the report endpoints (``?format=csv``): a header row, then one row per record.

The records are a report's ``rows`` (flat dicts), its columns the view's
``csv_columns``. Empty values (None) are empty cells. A text cell that a spreadsheet
would run as a formula (starting with ``=``, ``+``, ``-``, ``@``, a tab or a CR: stop
and route ids come from an agency's GTFS) is prefixed with ``'`` (OWASP, CSV
injection); numbers are written as they are.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping, Sequence

from rest_framework.renderers import BaseRenderer

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return "'" + value if value.startswith(FORMULA_STARTS) else value
    return str(value)


def csv_text(columns: Sequence[str], rows: Iterable[Mapping[str, object]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")  # RFC 4180
    writer.writerow(columns)
    for row in rows:
        writer.writerow([cell(row.get(column)) for column in columns])
    return out.getvalue()


class CsvRenderer(BaseRenderer):
    """The report's ``rows`` under its view's ``csv_columns``."""

    media_type = "text/csv"
    format = "csv"
    charset = "utf-8"

    def render(self, data, accepted_media_type=None, renderer_context=None) -> bytes:
        view = (renderer_context or {}).get("view")
        columns = getattr(view, "csv_columns", ())
        return csv_text(columns, data.get("rows", [])).encode(self.charset)
