"""``POST /api/ws-ticket/``: a one-time ticket for opening ``/ws/live/?ticket=…``.

For WebSocket clients that cannot send an ``Authorization`` header (browsers' WebSocket
API cannot) and do not share the site's session cookie. Authenticated like every API call
(DRF's default authentication: a knox token or the session), and only for users with a
role: a ticket for a user who may watch nothing would only be refused later (4403).
The ticket itself: ``realtime_engine.ws.tickets``.
"""

from __future__ import annotations

from django.conf import settings
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import permissions, serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from databus.redis import get_redis
from realtime_engine.ws.tickets import ticket_issue
from runs.api.base import ErrorOutput, HasRunRole


class WsTicketApi(APIView):
    permission_classes = [permissions.IsAuthenticated, HasRunRole]

    class WsTicketOutput(serializers.Serializer):
        ticket = serializers.CharField(
            help_text="pass as /ws/live/?ticket=…; good for one connection"
        )
        expires_in = serializers.IntegerField(help_text="seconds the ticket stays redeemable")

    @extend_schema(
        operation_id="ws_ticket_create",
        summary="Issue a one-time ticket for the /ws/live/ WebSocket",
        request=None,
        responses={
            201: WsTicketOutput,
            401: OpenApiResponse(ErrorOutput, description="No credentials, or a bad token."),
            403: OpenApiResponse(
                ErrorOutput,
                description="No dispatcher or operator role, or a session POST without CSRF.",
            ),
        },
    )
    def post(self, request):
        ttl_s = settings.LIVE_WS_TICKET_TTL_S
        ticket = ticket_issue(get_redis(), user_id=request.user.pk, ttl_s=ttl_s)
        body = self.WsTicketOutput({"ticket": ticket, "expires_in": ttl_s}).data
        return Response(body, status=status.HTTP_201_CREATED)
