"""``GET /api/ops/status``: the operator's status document, for staff accounts only.

Staff (``is_staff``) is the admin's own notion of "runs the system", not a dispatcher or
operator role: the page names hosts, workers and errors. The document is assembled by
``backend.ops.readers`` at each request (nothing is cached: an operator looks at it when
something is wrong); a part whose source fails says so and the rest answers 200.
"""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import permissions
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from backend.ops.readers import status_document
from backend.ops.serializers import OpsStatusOutput


class IsStaff(permissions.IsAdminUser):
    message = "the operations status is for staff accounts"


class OpsStatusView(APIView):
    permission_classes = [permissions.IsAuthenticated, IsStaff]

    @extend_schema(
        summary="What beat, the workers, the feeds, the stale-run scan and ingest are doing",
        responses={200: OpsStatusOutput},
    )
    def get(self, request: Request) -> Response:
        response = Response(status_document())
        response["Cache-Control"] = "no-store"
        return response
