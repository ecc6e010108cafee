"""Trip operation endpoints: cancel ahead and re-enable, add a trip, skip stops, end, list;
and a run's change of vehicle.

Input is checked here for type, range and size (400 naming the field); what it must match
in the current GTFS, the role (dispatcher) and the conflicts with runs and other operations
are the service's (``runs.services.trip_operations``), which records every attempt. A
refusal answers 400 (the field named), 403, 404 or 409 (the field named). Bodies are JSON
only: a form cannot carry stop times, and a list of 500 stop sequences as form fields passes
Django's limit on the number of fields.
"""

from __future__ import annotations

from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import exceptions, serializers, status
from rest_framework.generics import GenericAPIView
from rest_framework.response import Response

from runs import selectors
from runs.api.base import ErrorOutput, RunApi, refusal_response
from runs.api.parsers import JSONParser
from runs.api.runs import START_TIME_PATTERN, RefusalOutput, RunEventCreateApi, _run_or_404
from runs.domain.lifecycle.guards import Guard
from runs.domain.projections.trip_operations import MAX_SKIPPED_STOPS, MAX_STOP_TIMES
from runs.domain.telemetry.limits import STOP_SEQUENCE_RANGE
from runs.models import TripOperation, Vehicle
from runs.services import trip_operations as service
from runs.services.trip_operations import OperationOutcome, Refusal, StopTimeInput

LOW_SEQUENCE, HIGH_SEQUENCE = STOP_SEQUENCE_RANGE
_CLAIM_GUARDS = {Guard.NEW_VEHICLE_UNCLAIMED, Guard.RESOURCES_UNCLAIMED}

ConflictOutput = inline_serializer(
    "TripOperationConflict",
    {
        "detail": serializers.CharField(),
        "code": serializers.CharField(),
        "errors": serializers.DictField(help_text="messages per field"),
    },
)


class StopTimeSerializer(serializers.Serializer):
    stop_sequence = serializers.IntegerField(min_value=LOW_SEQUENCE, max_value=HIGH_SEQUENCE)
    stop_id = serializers.CharField(max_length=255)
    arrival_time = serializers.RegexField(
        START_TIME_PATTERN, help_text="HH:MM:SS of the service day (may pass 24:00:00)"
    )
    departure_time = serializers.RegexField(
        START_TIME_PATTERN, required=False, help_text="default: the arrival time"
    )


class OperationOutput(serializers.ModelSerializer):
    vehicle_id = serializers.CharField(allow_null=True)
    stop_times = StopTimeSerializer(many=True)
    skipped_stop_sequences = serializers.ListField(child=serializers.IntegerField())

    class Meta:
        model = TripOperation
        fields = [
            "id",
            "kind",
            "trip_id",
            "start_date",
            "start_time",
            "route_id",
            "direction_id",
            "vehicle_id",
            "stop_times",
            "skipped_stop_sequences",
            "active_from",
            "active_until",
            "ended_at",
            "alert_id",
            "created_at",
            "feed_version",
        ]


# 400 (InvalidInput, with the field) and 403 come from backend.api_schema's machinery.
WRITE_RESPONSES = {409: ConflictOutput}


def _operation_id(text: str) -> int:
    """The id in the path (``<str:…>``, so that any path segment gets the JSON 404)."""
    if not (text.isascii() and text.isdigit() and len(text) <= 18):
        raise exceptions.NotFound("no such trip operation")
    return int(text)


def _answer(outcome: OperationOutcome, created: bool) -> Response:
    """The operation (201 or 200), or the refusal as its status."""
    if outcome.accepted:
        code = status.HTTP_201_CREATED if created else status.HTTP_200_OK
        return Response(OperationOutput(outcome.operation).data, status=code)
    if outcome.refusal is Refusal.INVALID:
        raise exceptions.ValidationError(dict(outcome.errors))
    if outcome.refusal is Refusal.FORBIDDEN:
        raise exceptions.PermissionDenied(outcome.attempt.reason)
    if outcome.refusal is Refusal.NOT_FOUND:
        raise exceptions.NotFound("no such trip operation")
    return Response(
        {"detail": outcome.attempt.reason, "code": "conflict", "errors": dict(outcome.errors)},
        status=status.HTTP_409_CONFLICT,
    )


class CancellationCreateApi(RunApi):
    parser_classes = [JSONParser]

    class CancelInput(serializers.Serializer):
        trip_id = serializers.CharField(max_length=255)
        start_date = serializers.DateField(help_text="the service day")
        until = serializers.DateTimeField(
            required=False,
            allow_null=True,
            help_text="published until then (default: the trip's scheduled end plus a margin)",
        )

    @extend_schema(
        operation_id="trips_cancellations_create",
        request=CancelInput,
        responses={201: OperationOutput, **WRITE_RESPONSES},
    )
    def post(self, request):
        data = self.CancelInput(data=request.data)
        data.is_valid(raise_exception=True)
        outcome = service.trip_cancel_ahead(actor=self.actor(), **data.validated_data)
        return _answer(outcome, created=True)


class CancellationReenableApi(RunApi):
    @extend_schema(
        operation_id="trips_cancellations_reenable",
        request=None,
        responses={200: OperationOutput, 404: ErrorOutput, **WRITE_RESPONSES},
    )
    def post(self, request, operation_id: str):
        outcome = service.trip_reenable(
            actor=self.actor(), operation_id=_operation_id(operation_id)
        )
        return _answer(outcome, created=False)


class AddedTripCreateApi(RunApi):
    parser_classes = [JSONParser]

    class AddInput(serializers.Serializer):
        trip_id = serializers.CharField(max_length=255, help_text="new to the current GTFS")
        route_id = serializers.CharField(max_length=255)
        direction_id = serializers.ChoiceField(choices=[0, 1], required=False, allow_null=True)
        start_date = serializers.DateField(help_text="the service day")
        start_time = serializers.RegexField(
            START_TIME_PATTERN,
            required=False,
            allow_blank=True,
            help_text="default: the first stop's departure",
        )
        vehicle_id = serializers.CharField(max_length=64)
        stop_times = serializers.ListField(
            child=StopTimeSerializer(), min_length=2, max_length=MAX_STOP_TIMES
        )

        def validate_vehicle_id(self, value: str) -> Vehicle:
            vehicle = selectors.vehicle_get(vehicle_id=value)
            if vehicle is None:
                raise serializers.ValidationError("no such vehicle")
            return vehicle

    @extend_schema(
        operation_id="trips_added_create",
        request=AddInput,
        responses={201: OperationOutput, **WRITE_RESPONSES},
    )
    def post(self, request):
        data = self.AddInput(data=request.data)
        data.is_valid(raise_exception=True)
        fields = dict(data.validated_data)
        stops = [
            StopTimeInput(
                stop_sequence=stop["stop_sequence"],
                stop_id=stop["stop_id"],
                arrival_time=stop["arrival_time"],
                departure_time=stop.get("departure_time") or stop["arrival_time"],
            )
            for stop in fields.pop("stop_times")
        ]
        outcome = service.trip_add(
            actor=self.actor(),
            vehicle=fields.pop("vehicle_id"),
            direction_id=fields.pop("direction_id", None),
            start_time=fields.pop("start_time", ""),
            stop_times=stops,
            **fields,
        )
        return _answer(outcome, created=True)


class SkippedStopsCreateApi(RunApi):
    parser_classes = [JSONParser]

    class SkipInput(serializers.Serializer):
        trip_id = serializers.CharField(max_length=255)
        start_date = serializers.DateField(help_text="the service day")
        stop_sequences = serializers.ListField(
            child=serializers.IntegerField(min_value=LOW_SEQUENCE, max_value=HIGH_SEQUENCE),
            min_length=1,
            max_length=MAX_SKIPPED_STOPS,
        )
        detour_alert = serializers.BooleanField(
            required=False, default=False, help_text="also create a DETOUR service alert"
        )
        until = serializers.DateTimeField(
            required=False,
            allow_null=True,
            help_text="published until then (default: the trip's scheduled end plus a margin)",
        )

    @extend_schema(
        operation_id="trips_skipped_stops_create",
        request=SkipInput,
        responses={201: OperationOutput, **WRITE_RESPONSES},
    )
    def post(self, request):
        data = self.SkipInput(data=request.data)
        data.is_valid(raise_exception=True)
        outcome = service.trip_skip_stops(actor=self.actor(), **data.validated_data)
        return _answer(outcome, created=True)


class OperationEndApi(RunApi):
    @extend_schema(
        operation_id="trip_operation_end",
        request=None,
        responses={200: OperationOutput, 404: ErrorOutput, **WRITE_RESPONSES},
    )
    def post(self, request, operation_id: str):
        outcome = service.operation_end(
            actor=self.actor(), operation_id=_operation_id(operation_id)
        )
        return _answer(outcome, created=False)


# A GenericAPIView for its paginator (the default one), so the schema documents the page.
class OperationListApi(RunApi, GenericAPIView):
    class FilterInput(serializers.Serializer):
        kind = serializers.ChoiceField(choices=TripOperation.Kind.choices, required=False)
        trip_id = serializers.CharField(required=False, max_length=255)

    @extend_schema(
        operation_id="trip_operation_list",
        parameters=[FilterInput],
        responses={200: OperationOutput(many=True)},
    )
    def get(self, request):
        filters = self.FilterInput(data=request.query_params.dict())
        filters.is_valid(raise_exception=True)
        operations = selectors.trip_operation_list_active(**filters.validated_data)
        page = self.paginate_queryset(operations)
        return self.get_paginated_response(OperationOutput(page, many=True).data)


class RunVehicleChangeApi(RunApi):
    parser_classes = [JSONParser]

    class VehicleInput(serializers.Serializer):
        vehicle_id = serializers.CharField(max_length=64)

        def validate_vehicle_id(self, value: str) -> str:
            if selectors.vehicle_get(vehicle_id=value) is None:
                raise serializers.ValidationError("no such vehicle")
            return value

    @extend_schema(
        operation_id="runs_vehicle_change",
        request=VehicleInput,
        responses={
            200: RunEventCreateApi.EventOutput,
            403: RefusalOutput,
            404: ErrorOutput,
            409: ErrorOutput,  # a refusal's body (RunEventRefusal) or a concurrent change's
            422: RefusalOutput,
        },
    )
    def post(self, request, run_id: str):
        run = _run_or_404(run_id, self.run_scope())
        data = self.VehicleInput(data=request.data)
        data.is_valid(raise_exception=True)
        vehicle_id = data.validated_data["vehicle_id"]
        if vehicle_id == run.vehicle_id:
            raise exceptions.ValidationError({"vehicle_id": ["the run has this vehicle already"]})
        try:
            outcome = service.run_vehicle_change(
                actor=self.actor(), run_id=run.pk, vehicle_id=vehicle_id
            )
        except service.VehicleNotFound:
            raise exceptions.ValidationError({"vehicle_id": ["no such vehicle"]}) from None
        decision = outcome.decision
        if decision.accepted:
            return Response(RunEventCreateApi.EventOutput(outcome).data)
        response = refusal_response(decision, run.pk)
        if any(not r.passed and r.guard in _CLAIM_GUARDS for r in decision.guard_results):
            response.status_code = status.HTTP_409_CONFLICT
        return response
