"""`/healthz` (the process answers) and `/readyz` (its dependencies answer)."""

from __future__ import annotations

from django.http import HttpRequest, JsonResponse
from django.views.decorators.http import require_GET

from backend.health.probes import READINESS_PROBES


@require_GET
def healthz(_request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok"})


@require_GET
def readyz(_request: HttpRequest) -> JsonResponse:
    checks = {}
    failing = []
    warnings = []
    for name, probe in READINESS_PROBES:
        result = probe()
        checks[name] = {
            "ok": result.ok,
            "latency_ms": result.latency_ms,
            "detail": result.detail,
        }
        if not result.ok:
            (warnings if result.warn_only else failing).append(name)
    body = {
        "status": "fail" if failing else ("warn" if warnings else "ok"),
        "failing": failing,
        "warnings": warnings,
        "checks": checks,
    }
    return JsonResponse(body, status=503 if failing else 200)
