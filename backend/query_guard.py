"""Refuse, with a 400, a request whose URL holds bytes no endpoint can use.

A NUL in ``?q=`` used to reach PostgreSQL, which refuses NUL in a text literal, and the
search endpoints answered 500. Neither Django nor DRF refuses it: Django decodes a bad
percent-escape or invalid UTF-8 into U+FFFD and passes control characters through, and
DRF's ``ProhibitNullCharactersValidator`` sees only fields that go through a serializer.
So every request passes this middleware first, whatever view it is for:

- the query string must be well-formed percent-encoding (``%`` followed by two hex
  digits), decode to valid UTF-8, and hold no control character once decoded;
- the decoded path must hold no control character (``/api/vehicles/%00/``);
- under ``/api/``, no query parameter may be given twice: every API parameter takes one
  value, and Django would quietly use the last (``?offset=-4&offset=0``).

The answer is the API's error body, ``{"detail", "code"}`` (docs/api.md, "Errors and
pagination"). ``query_string_problem`` and ``path_problem`` are pure; the middleware is
the shell. Installed in ``MIDDLEWARE`` by ``backend.settings``; imports Django only.
"""

from __future__ import annotations

import re
import unicodedata
from urllib.parse import unquote_to_bytes

from django.core.handlers.wsgi import get_bytes_from_wsgi
from django.http import HttpRequest, JsonResponse
from django.utils.deprecation import MiddlewareMixin

_BROKEN_ESCAPE = re.compile(rb"%(?![0-9A-Fa-f]{2})")


def _control_character(text: str) -> str | None:
    """The first control character (Unicode category Cc: C0, DEL, C1) of ``text``."""
    return next((c for c in text if unicodedata.category(c) == "Cc"), None)


def query_string_problem(raw: bytes) -> str | None:
    """Why the raw query string cannot be used, or ``None`` when it can."""
    if _BROKEN_ESCAPE.search(raw):
        return "the query string has a '%' not followed by two hexadecimal digits"
    try:
        decoded = unquote_to_bytes(raw.replace(b"+", b" ")).decode("utf-8")
    except UnicodeDecodeError:
        return "the query string does not decode to UTF-8"
    control = _control_character(decoded)
    if control is not None:
        return f"the query string holds the control character U+{ord(control):04X}"
    return None


def repeated_parameter_problem(raw: bytes) -> str | None:
    """Why a query string that gives one parameter twice cannot be used, or ``None``."""
    seen: set[bytes] = set()
    for pair in raw.split(b"&"):
        name = pair.partition(b"=")[0]
        if not name:
            continue
        if name in seen:
            shown = unquote_to_bytes(name.replace(b"+", b" ")).decode("utf-8", "replace")
            return f"the query parameter {shown[:64]!r} is given more than once"
        seen.add(name)
    return None


API_PREFIX = "/api/"


def path_problem(path: str) -> str | None:
    """Why the decoded path cannot be used, or ``None`` when it can."""
    control = _control_character(path)
    if control is not None:
        return f"the path holds the control character U+{ord(control):04X}"
    return None


def _raw_query_string(request: HttpRequest) -> bytes:
    scope = getattr(request, "scope", None)  # ASGIRequest keeps the bytes in the scope
    if scope is not None:
        raw = scope.get("query_string", b"")
        # Bytes by the ASGI spec (uvicorn); Django's own test client passes text.
        return raw.encode() if isinstance(raw, str) else raw
    return get_bytes_from_wsgi(request.META, "QUERY_STRING", "")


class QueryGuardMiddleware(MiddlewareMixin):
    """MiddlewareMixin makes it serve both the WSGI and the ASGI handler without a thread hop."""

    def process_request(self, request: HttpRequest) -> JsonResponse | None:
        raw = _raw_query_string(request)
        problem = query_string_problem(raw)
        if problem is None and request.path_info.startswith(API_PREFIX):
            problem = repeated_parameter_problem(raw)
        if problem:
            return JsonResponse({"detail": problem, "code": "invalid_query_string"}, status=400)
        if problem := path_problem(request.path_info):
            return JsonResponse({"detail": problem, "code": "invalid_path"}, status=400)
        return None
