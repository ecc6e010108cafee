"""``GET /api/vehicles/{id}/positions/``: one vehicle's position history, newest first.

Read from ``realtime_engine.models.PositionRecord`` (both ingresses write it), which is why
the view lives here and not beside the other vehicle endpoints: runs may not import
realtime_engine (docs/architecture.md, "Layers"). Paginated like every list
(``databus.pagination``); ``since`` (inclusive) and ``until`` (exclusive) bound the window,
at most ``MAX_WINDOW`` wide, the last ``DEFAULT_WINDOW`` when not given.

Dispatchers (and superusers) read every vehicle's history. Operators are refused (403):
a history spans other operators' runs, which their ``RunScope`` does not open, and its
IO bag may carry who drove (a tracker's driver-identification input); the live position
stays theirs to read on ``/api/vehicles/{id}/``. A vehicle without a row is a 404, as on
the vehicle's own endpoint.
"""

from __future__ import annotations

import datetime as dt

from django.utils import timezone
from drf_spectacular.utils import extend_schema
from rest_framework import exceptions, serializers
from rest_framework.generics import GenericAPIView

from realtime_engine.models import PositionRecord
from runs import selectors
from runs.api.base import RunApi

DEFAULT_WINDOW = dt.timedelta(hours=24)
MAX_WINDOW = dt.timedelta(days=7)


class PositionRecordOutput(serializers.Serializer):
    timestamp = serializers.DateTimeField(help_text="when the vehicle measured it")
    latitude = serializers.FloatField()
    longitude = serializers.FloatField()
    bearing = serializers.FloatField(allow_null=True, help_text="degrees clockwise from north")
    speed = serializers.FloatField(allow_null=True, help_text="m/s")
    odometer = serializers.FloatField(allow_null=True, help_text="m")
    received_at = serializers.DateTimeField(help_text="when the server received it")
    attributes = serializers.DictField(
        help_text=(
            "the tracker's IO bag ({} from MQTT): a 64-bit integer is a JSON number "
            "(exact; read it with a big-integer-safe parser), bytes a base64 string"
        )
    )


class PositionWindowInput(serializers.Serializer):
    since = serializers.DateTimeField(
        required=False, help_text=f"inclusive; default: until - {DEFAULT_WINDOW}"
    )
    until = serializers.DateTimeField(required=False, help_text="exclusive; default: now")

    def validate(self, data: dict) -> dict:
        try:
            until = data.get("until") or timezone.now()
            since = data.get("since") or until - DEFAULT_WINDOW
        except OverflowError:
            raise serializers.ValidationError({"until": ["out of range"]}) from None
        if since >= until:
            raise serializers.ValidationError({"since": ["must be before until"]})
        if until - since > MAX_WINDOW:
            raise serializers.ValidationError(
                {"since": [f"the window is at most {MAX_WINDOW.days} days"]}
            )
        return {"since": since, "until": until}


def position_history(*, vehicle_id: str, since: dt.datetime, until: dt.datetime):
    """One vehicle's positions in ``[since, until)``, newest first (the unique index's order)."""
    return PositionRecord.objects.filter(
        vehicle_id=vehicle_id, timestamp__gte=since, timestamp__lt=until
    ).order_by("-timestamp")


# A GenericAPIView for its paginator (the default one), so the schema documents the page.
class VehiclePositionsApi(RunApi, GenericAPIView):
    @extend_schema(
        operation_id="vehicles_positions_list",
        parameters=[PositionWindowInput],
        responses={200: PositionRecordOutput(many=True)},
    )
    def get(self, request, vehicle_id: str):
        if not self.run_scope().every_run:
            raise exceptions.PermissionDenied("a vehicle's position history is for dispatchers")
        # A plain dict: a blank parameter is invalid (400), not absent (see RunListApi).
        window = PositionWindowInput(data=request.query_params.dict())
        window.is_valid(raise_exception=True)
        if selectors.vehicle_get(vehicle_id=vehicle_id) is None:
            raise exceptions.NotFound("no such vehicle")
        rows = position_history(vehicle_id=vehicle_id, **window.validated_data)
        page = self.paginate_queryset(rows)
        return self.get_paginated_response(PositionRecordOutput(page, many=True).data)
