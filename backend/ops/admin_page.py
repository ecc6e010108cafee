"""The operations status as an admin page (``/admin/ops/status/``), and the index's link to it.

The page shows the document ``GET /api/ops/status`` answers, as tables, to the same people
(staff: ``AdminSite.admin_view`` sends anyone else to the admin's login). Its times are
shown as UTC dates. The templates are this package's own files compiled by the project's
template engine, so they extend the admin's and need no app of their own.
"""

from __future__ import annotations

import datetime as dt
import functools
from pathlib import Path

from django.http import HttpRequest
from django.template import engines
from django.template.backends.django import Template
from django.template.response import TemplateResponse

from backend.ops.readers import status_document

_TEMPLATES = Path(__file__).resolve().parent / "templates" / "ops"
# Fields holding POSIX seconds: every ``*_at`` field, a failure's ``at``, a feed's header.
_TIME_SUFFIX, _TIME_FIELDS = "_at", frozenset({"at", "header_timestamp"})


@functools.cache
def template(name: str) -> Template:
    return engines["django"].from_string((_TEMPLATES / name).read_text())


def with_dates(value: object, field: str = "") -> object:
    """The document with its times as UTC datetimes, for the page's eyes. Pure."""
    if isinstance(value, dict):
        return {key: with_dates(item, key) for key, item in value.items()}
    if isinstance(value, list):
        return [with_dates(item, field) for item in value]
    is_time = field.endswith(_TIME_SUFFIX) or field in _TIME_FIELDS
    if is_time and isinstance(value, int | float) and not isinstance(value, bool):
        return dt.datetime.fromtimestamp(value, dt.UTC).replace(microsecond=0)
    return value


def status_page(request: HttpRequest, site) -> TemplateResponse:
    document = with_dates(status_document())
    context = {
        **site.each_context(request),
        "title": "Operations status",
        "doc": document,
        "generated_at": document["generated_at"],
    }
    response = TemplateResponse(request, template("status.html"), context)
    response["Cache-Control"] = "no-store"
    return response
