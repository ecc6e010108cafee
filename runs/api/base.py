"""What every runs API view shares: JSON errors with field-level messages, and the role check.

Error bodies are ``{"detail", "code"}`` plus ``"errors": {field: [messages]}`` for
invalid input (400) and the guard results for a refused event (403/422).
"""

from __future__ import annotations

from django.http import Http404
from drf_spectacular.utils import inline_serializer
from rest_framework import exceptions, permissions, serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView, exception_handler

from runs import selectors
from runs.domain.lifecycle.machine import Decision, Refusal
from runs.domain.lifecycle.roles import ActorRole
from runs.services.actors import Actor, actor_for_user
from runs.services.lifecycle import (
    RunConflict,
    RunCreateForbidden,
    RunDetailsInvalid,
    RunNotFound,
)

# The two bodies json_exception_handler answers, for the schema (backend/api_schema.py
# documents them on every operation; a view names ErrorOutput for its own statuses, e.g. 409).
ErrorOutput = inline_serializer(
    "Error", {"detail": serializers.CharField(), "code": serializers.CharField()}
)
InvalidInputOutput = inline_serializer(
    "InvalidInput",
    {
        "detail": serializers.CharField(),
        "code": serializers.CharField(),
        "errors": serializers.DictField(
            required=False, help_text="messages per field (serializer validation only)"
        ),
    },
)


def json_exception_handler(exc, context):
    """Every DRF view's error handler (REST_FRAMEWORK["EXCEPTION_HANDLER"]), not only runs'."""
    if isinstance(exc, RunNotFound | Http404):
        exc = exceptions.NotFound("no such run" if isinstance(exc, RunNotFound) else None)
    elif isinstance(exc, RunConflict):
        return Response({"detail": str(exc), "code": "conflict"}, status=status.HTTP_409_CONFLICT)
    elif isinstance(exc, RunCreateForbidden):
        exc = exceptions.PermissionDenied(str(exc))
    elif isinstance(exc, RunDetailsInvalid):
        exc = exceptions.ValidationError({"details": [str(exc)]})
    response = exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, exceptions.ValidationError):
        errors = exc.detail if isinstance(exc.detail, dict) else {"non_field_errors": exc.detail}
        response.data = {"detail": "invalid input", "code": "invalid", "errors": errors}
    elif isinstance(exc, exceptions.APIException):
        codes = exc.get_codes()
        response.data = {
            "detail": str(exc.detail),
            "code": codes if isinstance(codes, str) else "error",
        }
    return response


class HasRunRole(permissions.BasePermission):
    """Authenticated and in the ``dispatcher`` or ``operator`` group (or a superuser)."""

    message = "your account has neither the dispatcher nor the operator role"

    def has_permission(self, request, view) -> bool:
        return actor_for_user(request.user) is not None


class RunApi(APIView):
    permission_classes = [permissions.IsAuthenticated, HasRunRole]

    def get_exception_handler(self):
        return json_exception_handler

    def actor(self) -> Actor:
        actor = actor_for_user(self.request.user)
        assert actor is not None  # HasRunRole admitted the request
        return actor

    def run_scope(self) -> selectors.RunScope:
        """Dispatchers read every run; an operator only the runs they operate (docs/api.md)."""
        actor = self.actor()
        if actor.role is ActorRole.OPERATOR:
            return selectors.RunScope(operator_id=actor.operator_id)
        return selectors.EVERY_RUN


def refusal_response(decision: Decision, run_id) -> Response:
    """403 when only authorization guards refused, 422 otherwise; every guard's result."""
    forbidden = decision.refusal is Refusal.UNAUTHORIZED
    body = {
        "detail": decision.message or "; ".join(decision.reasons),
        "code": "forbidden" if forbidden else "refused",
        "refusal": decision.refusal.value if decision.refusal else None,
        "run_id": str(run_id),
        "step": decision.event.value,
        "state": decision.source.value,
        "guards": [
            {"guard": r.guard.value, "passed": r.passed, "reason": r.reason}
            for r in decision.guard_results
        ],
    }
    code = status.HTTP_403_FORBIDDEN if forbidden else status.HTTP_422_UNPROCESSABLE_ENTITY
    return Response(body, status=code)
