"""The live map page (``/live/``) and the network JSON it draws (``/live/network.json``).

Thin: the page is a template plus static JS (``static/live/``) that talks to
``/ws/live/`` and the REST API; the network comes from ``live_network``.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from realtime_engine.live_network import network_get
from runs.services.actors import actor_for_user


@require_GET
@login_required
def live_map(request: HttpRequest) -> HttpResponse:
    # The page is for the roles the live WebSocket serves; without one it would only
    # ever show its 4403 message.
    if actor_for_user(request.user) is None:
        raise PermissionDenied("the live map needs the dispatcher or operator role")
    return render(
        request,
        "realtime_engine/live_map.html",
        {"live_config": {"tileUrl": settings.LIVE_MAP_TILE_URL, "wsPath": "/ws/live/"}},
    )


@require_GET
def live_network(request: HttpRequest) -> JsonResponse:
    if not request.user.is_authenticated:
        return JsonResponse(
            {
                "detail": "Authentication credentials were not provided.",
                "code": "not_authenticated",
            },
            status=401,
        )
    return JsonResponse(network_get())
