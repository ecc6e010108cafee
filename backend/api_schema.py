"""What the project adds to drf-spectacular's schema: every error status an operation answers.

A view declares what it returns itself (its 2xx body, a 409 or 422 of its own); the
statuses that come from the machinery around it are the same for every view and are
derived here from the view's own classes, so a new endpoint is documented without
repeating them:

| status | when | from |
|---|---|---|
| 400 | always: a URL with bad bytes (``backend.query_guard``); invalid input | every request |
| 401 | a missing, wrong or expired token | ``authentication_classes`` (with a challenge) |
| 403 | a permission beyond "signed in"; a session write without CSRF | ``permission_classes`` |
| 404 | a path that names nothing | path parameters |
| 415 | a body in a media type no parser reads | a request body |
| 429 | too many requests | ``throttle_classes`` |

The bodies are the two that ``runs.api.base.json_exception_handler`` answers for every DRF
view: ``Error`` ``{"detail", "code"}``, and ``InvalidInput`` (the same, plus ``errors`` per
field) for a 400. A status the view declares too keeps the view's body, widened with
``anyOf`` when the machinery answers a different one for it (a 403 from a lifecycle guard
and a 403 from a permission class).

An AutoSchema subclass rather than a postprocessing hook: a hook sees only the finished
schema, not the view classes the statuses follow from. Used through
``REST_FRAMEWORK["DEFAULT_SCHEMA_CLASS"]``.
"""

from __future__ import annotations

from dataclasses import dataclass

import uritemplate
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.utils import OpenApiResponse
from rest_framework import permissions
from rest_framework.authentication import SessionAuthentication

from runs.api.base import ErrorOutput, InvalidInputOutput

# Permission classes that refuse no signed-in user: they alone never answer 403.
_SIGNED_IN_SUFFICES = (permissions.AllowAny, permissions.IsAuthenticated)
_SAFE_METHODS = frozenset(permissions.SAFE_METHODS)


@dataclass(frozen=True)
class ViewFacts:
    """What decides an operation's error statuses, read off the view class."""

    method: str
    authenticates: bool  # has authentication classes: a wrong or expired token is refused
    challenges: bool  # the first one sends WWW-Authenticate, so DRF refuses with 401, not 403
    needs_sign_in: bool  # some permission class refuses an anonymous caller
    restricts: bool  # some permission class refuses even a signed-in caller
    session: bool  # session authentication: a write without the CSRF token is refused (403)
    throttled: bool
    path_parameters: bool
    body: bool  # takes a request body, parsed by the view's parsers


ERROR_RESPONSES: dict[int, tuple[object, str]] = {
    400: (
        InvalidInputOutput,
        "Invalid input (``errors`` per field), or a query string or path with bad bytes "
        "(a control character, a broken percent-escape, invalid UTF-8).",
    ),
    401: (ErrorOutput, "No credentials, or a token that is wrong, expired or revoked."),
    403: (
        ErrorOutput,
        "The caller's role or ownership does not allow this, or a session request without "
        "its CSRF token.",
    ),
    404: (ErrorOutput, "The path names nothing that exists (or nothing this caller may see)."),
    415: (ErrorOutput, "The body's Content-Type is not one the operation reads."),
    429: (ErrorOutput, "Too many requests; ``Retry-After`` says when to try again."),
}


def error_statuses(facts: ViewFacts) -> list[int]:
    """The error statuses the machinery around a view can answer, in order."""
    statuses = {400}
    if facts.authenticates:
        # A wrong token is refused even where anonymous callers are admitted; DRF answers
        # 403 instead of 401 when the first authentication class sends no challenge.
        statuses.add(401 if facts.challenges else 403)
    elif facts.needs_sign_in:
        statuses.add(403)
    if facts.restricts or (facts.session and facts.method not in _SAFE_METHODS):
        statuses.add(403)
    if facts.path_parameters:
        statuses.add(404)
    if facts.body:
        statuses.add(415)
    if facts.throttled:
        statuses.add(429)
    return sorted(statuses)


def view_facts(view, method: str, path: str, *, body: bool) -> ViewFacts:
    authenticators = view.get_authenticators()
    checks = view.get_permissions()
    return ViewFacts(
        method=method,
        authenticates=bool(authenticators),
        challenges=bool(authenticators and authenticators[0].authenticate_header(view.request)),
        needs_sign_in=any(not isinstance(p, permissions.AllowAny) for p in checks),
        restricts=any(not isinstance(p, _SIGNED_IN_SUFFICES) for p in checks),
        session=any(isinstance(a, SessionAuthentication) for a in authenticators),
        throttled=bool(view.get_throttles()),
        path_parameters=bool(uritemplate.variables(path)),
        body=body,
    )


class ErrorDocumentingAutoSchema(AutoSchema):
    def _get_response_bodies(self, direction="response"):
        # drf-spectacular (pinned in requirements.lock) builds every response of an operation
        # here; the view's own come first.
        responses = super()._get_response_bodies(direction)
        if direction != "response":
            return responses
        body = self.method in ("POST", "PUT", "PATCH") and self.get_request_serializer() is not None
        facts = view_facts(self.view, self.method, self.path, body=body)
        for status in error_statuses(facts):
            serializer, description = ERROR_RESPONSES[status]
            generic = self._get_response_for_code(
                OpenApiResponse(serializer, description=description), str(status)
            )
            declared = responses.get(str(status))
            responses[str(status)] = generic if declared is None else _widen(declared, generic)
        return dict(sorted(responses.items()))


_GENERIC_REFS = {"#/components/schemas/Error", "#/components/schemas/InvalidInput"}


def _widen(declared: dict, generic: dict) -> dict:
    """The view's response for a status, admitting the generic error body too."""
    content = {}
    for media_type, generic_body in generic["content"].items():
        declared_schema = declared.get("content", {}).get(media_type, {}).get("schema")
        generic_schema = generic_body["schema"]
        if declared_schema is None or declared_schema.get("$ref") in _GENERIC_REFS:
            content[media_type] = generic_body  # the view named a generic body: ours is exact
        else:
            content[media_type] = {"schema": {"anyOf": [declared_schema, generic_schema]}}
    description = declared.get("description") or generic["description"]
    return {**declared, "content": content, "description": description}
