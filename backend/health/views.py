"""`/healthz` (the process answers) and `/readyz` (its dependencies answer).

`/readyz` tells anyone whether the process is ready and which probes fail or warn,
by name (``postgres``, ``redis``, …). Each probe's detail (host and port, the error
text) and latency is for the metrics token or a staff session only
(``backend.metrics_access.may_see_internals``): an anonymous caller learns no host.
"""

from __future__ import annotations

from collections.abc import Sequence

from django.http import HttpRequest, JsonResponse
from django.views.decorators.http import require_GET

from backend.health.probes import READINESS_PROBES, ProbeResult
from backend.metrics_access import may_see_internals


@require_GET
def healthz(_request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok"})


@require_GET
def readyz(request: HttpRequest) -> JsonResponse:
    results = [(name, probe()) for name, probe in READINESS_PROBES]
    body = readiness_report(results, detailed=may_see_internals(request))
    return JsonResponse(body, status=503 if body["failing"] else 200)


def readiness_report(results: Sequence[tuple[str, ProbeResult]], *, detailed: bool) -> dict:
    """The `/readyz` body: status and failing/warning probe names; ``checks`` when detailed."""
    failing = [name for name, result in results if not result.ok and not result.warn_only]
    warnings = [name for name, result in results if not result.ok and result.warn_only]
    body: dict = {
        "status": "fail" if failing else ("warn" if warnings else "ok"),
        "failing": failing,
        "warnings": warnings,
    }
    if detailed:
        body["checks"] = {
            name: {"ok": result.ok, "latency_ms": result.latency_ms, "detail": result.detail}
            for name, result in results
        }
    return body
