"""Who may read the web process's internals: `/metrics` and the detail of `/readyz`.

A scraper presents ``Authorization: Bearer <METRICS_TOKEN>``; a staff user's admin
session also sees `/readyz` detail. With ``METRICS_TOKEN`` empty, `/metrics` on web
is off (404): each worker still exports its own metrics on ``WORKER_METRICS_PORT``,
which compose publishes on no host port (docs/operations.md, "Metrics and readiness").
Imported by ``backend.urls`` and ``backend.health.views``.
"""

from __future__ import annotations

import hmac

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse
from django.views.decorators.http import require_GET
from django_prometheus.exports import ExportToDjangoView


def bearer_token(authorization: str) -> str | None:
    """The credentials of an ``Authorization: Bearer …`` header value, else ``None``."""
    scheme, _, credentials = authorization.strip().partition(" ")
    credentials = credentials.strip()
    if scheme.lower() != "bearer" or not credentials:
        return None
    return credentials


def token_matches(presented: str | None, expected: str) -> bool:
    """Constant-time comparison; an empty ``expected`` (access disabled) matches nothing."""
    if not expected or presented is None:
        return False
    return hmac.compare_digest(presented.encode(), expected.encode())


def has_metrics_token(request: HttpRequest) -> bool:
    presented = bearer_token(request.headers.get("Authorization", ""))
    return token_matches(presented, settings.METRICS_TOKEN)


def may_see_internals(request: HttpRequest) -> bool:
    """Host names, latencies and error text: for the metrics token or an active staff user."""
    user = getattr(request, "user", None)
    staff = bool(user is not None and user.is_active and user.is_staff)
    return staff or has_metrics_token(request)


@require_GET
def metrics(request: HttpRequest) -> HttpResponse:
    """django-prometheus's exporter, behind the metrics token."""
    if not settings.METRICS_TOKEN:
        raise Http404("web metrics are disabled (METRICS_TOKEN is empty)")
    if not has_metrics_token(request):
        response = HttpResponse("metrics need Authorization: Bearer <METRICS_TOKEN>\n", status=401)
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        response["Content-Type"] = "text/plain; charset=utf-8"
        return response
    return ExportToDjangoView(request)
