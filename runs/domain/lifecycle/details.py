"""How big an event's ``details`` may be: the bound as data, and the pure check of it.

``details`` comes from a request body or an admin form and is stored with every attempt,
applied or refused (``RunLifecycleTransition.payload``), so it is bounded before anything
reads it: the REST API answers 400 naming ``details``, and ``run_event_apply`` refuses it
too, for callers that are not the API (the admin).

The walk is iterative: a nesting deeper than Python's recursion limit is measured, not
crashed on. Pure: standard library only.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class DetailsBound:
    max_bytes: int  # of its compact UTF-8 JSON
    max_depth: int  # ``{"stop_id": "S2"}`` is depth 1; each nested object or list adds one
    max_keys: int  # object keys at all depths together


# A stop id, a reason, a few context fields: what a lifecycle event carries (DESIGN.md).
DETAILS_BOUND = DetailsBound(max_bytes=4096, max_depth=4, max_keys=32)


_NUL = "holds a NUL character (PostgreSQL's jsonb cannot store U+0000)"


def details_problem(details: object, bound: DetailsBound = DETAILS_BOUND) -> str | None:
    """Why ``details`` is refused (a sentence naming the limit), or ``None`` if it is fine."""
    if not isinstance(details, Mapping):
        return "must be a JSON object"
    keys = 0
    # (value, depth of the container it sits in); the root object is depth 1.
    pending: list[tuple[object, int]] = [(details, 1)]
    while pending:
        value, depth = pending.pop()
        if isinstance(value, Mapping):
            if depth > bound.max_depth:
                return f"nested deeper than {bound.max_depth} levels"
            keys += len(value)
            if keys > bound.max_keys:
                return f"has more than {bound.max_keys} keys"
            if not all(isinstance(key, str) for key in value):
                return "object keys must be strings"
            if any("\x00" in key for key in value):
                return _NUL
            pending.extend((child, depth + 1) for child in value.values())
        elif isinstance(value, list | tuple):
            if depth > bound.max_depth:
                return f"nested deeper than {bound.max_depth} levels"
            if len(value) > bound.max_bytes:  # each element takes at least a byte
                return f"is larger than {bound.max_bytes} bytes as JSON"
            pending.extend((child, depth + 1) for child in value)
        elif isinstance(value, str):
            if "\x00" in value:
                return _NUL
        elif not (value is None or isinstance(value, int | float | bool)):
            return f"holds a {type(value).__name__}, not a JSON value"
    try:
        text = json.dumps(details, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    except ValueError:  # NaN, infinity, or an integer too long to print
        return "holds a number JSON cannot carry"
    try:
        size = len(text.encode())
    except UnicodeEncodeError:  # a lone surrogate (JSON "\ud800"): not Unicode text
        return "holds text that is not valid Unicode"
    if size > bound.max_bytes:
        return f"is larger than {bound.max_bytes} bytes as JSON ({size} bytes)"
    return None
