"""Run endpoints: list, create, detail, state, events, history."""

from __future__ import annotations

import uuid

from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.generics import GenericAPIView
from rest_framework.response import Response

from databus.redis import get_redis
from runs import selectors
from runs.api.base import ErrorOutput, RunApi, refusal_response
from runs.domain.lifecycle.details import DETAILS_BOUND, details_problem
from runs.domain.lifecycle.events import RunEvent
from runs.domain.lifecycle.states import RunState
from runs.models import Operator, Run, Vehicle
from runs.services.lifecycle import RunNotFound, run_create, run_event_apply

START_TIME_PATTERN = r"^\d{1,2}:[0-5]\d:[0-5]\d$"
DETAILS_HELP = (
    f"at most {DETAILS_BOUND.max_bytes} bytes as JSON, {DETAILS_BOUND.max_depth} levels deep "
    f"and {DETAILS_BOUND.max_keys} keys; e.g. run_short_turned needs stop_id"
)


class RunOutput(serializers.ModelSerializer):
    vehicle_id = serializers.CharField()
    operator_id = serializers.IntegerField(allow_null=True)
    run_lifecycle_state = serializers.CharField()
    last_event = serializers.CharField()

    class Meta:
        model = Run
        fields = [
            "id",
            "vehicle_id",
            "operator_id",
            "route_id",
            "trip_id",
            "shape_id",
            "direction_id",
            "start_date",
            "start_time",
            "schedule_relationship",
            "run_lifecycle_state",
            "last_event",
            "last_event_at",
            "feed_version",
            "created_at",
        ]


class GuardResultOutput(serializers.Serializer):
    guard = serializers.CharField()
    passed = serializers.BooleanField()
    reason = serializers.CharField(allow_blank=True)


class TransitionOutput(serializers.Serializer):
    id = serializers.IntegerField()
    event = serializers.CharField()
    from_state = serializers.CharField()
    to_state = serializers.CharField()
    accepted = serializers.BooleanField()
    refusal = serializers.CharField(allow_blank=True)
    guard_results = GuardResultOutput(many=True)
    actions = serializers.ListField(child=serializers.CharField())
    actor = serializers.CharField(source="actor.username", allow_null=True, default=None)
    actor_role = serializers.CharField()
    payload = serializers.DictField()
    created_at = serializers.DateTimeField()


RefusalOutput = inline_serializer(
    "RunEventRefusal",
    {
        "detail": serializers.CharField(),
        "code": serializers.CharField(),
        "refusal": serializers.CharField(),
        "run_id": serializers.UUIDField(),
        "step": serializers.CharField(),
        "state": serializers.CharField(),
        "guards": GuardResultOutput(many=True),
    },
)


def _run_or_404(run_id: str, scope: selectors.RunScope) -> Run:
    """The run, if it exists and ``scope`` may see it; otherwise the same 404 either way."""
    try:
        uuid.UUID(str(run_id))
    except ValueError:
        raise RunNotFound(run_id) from None
    run = selectors.run_get(run_id=run_id, scope=scope)
    if run is None:
        raise RunNotFound(run_id)
    return run


# A GenericAPIView for its paginator (the default one), so the schema documents the page.
class RunListApi(RunApi, GenericAPIView):
    class FilterInput(serializers.Serializer):
        state = serializers.ChoiceField(choices=[s.value for s in RunState], required=False)
        route_id = serializers.CharField(required=False, max_length=255)
        vehicle_id = serializers.CharField(required=False, max_length=64)
        date = serializers.DateField(required=False)

    @extend_schema(
        operation_id="runs_list",
        parameters=[FilterInput],
        responses={200: RunOutput(many=True)},
    )
    def get(self, request):
        # A plain dict, not the QueryDict: DRF reads a blank form field as absent, and
        # `?vehicle_id=` is a blank filter (400), which the schema says (minLength 1).
        filters = self.FilterInput(data=request.query_params.dict())
        filters.is_valid(raise_exception=True)
        data = filters.validated_data
        runs = selectors.run_list(
            scope=self.run_scope(),
            state=data.get("state"),
            route_id=data.get("route_id"),
            vehicle_id=data.get("vehicle_id"),
            start_date=data.get("date"),
        )
        return self.get_paginated_response(RunOutput(self.paginate_queryset(runs), many=True).data)


class RunCreateApi(RunApi):
    class CreateInput(serializers.Serializer):
        vehicle_id = serializers.CharField(max_length=64)
        trip_id = serializers.CharField(max_length=255)
        start_date = serializers.DateField()
        operator_id = serializers.IntegerField(required=False, allow_null=True)
        route_id = serializers.CharField(required=False, max_length=255, allow_blank=True)
        shape_id = serializers.CharField(required=False, max_length=255, allow_blank=True)
        direction_id = serializers.ChoiceField(choices=[0, 1], required=False, allow_null=True)
        start_time = serializers.RegexField(START_TIME_PATTERN, required=False, allow_blank=True)
        schedule_relationship = serializers.ChoiceField(
            choices=Run.ScheduleRelationship.choices, required=False
        )

        def validate_vehicle_id(self, value: str) -> Vehicle:
            vehicle = selectors.vehicle_get(vehicle_id=value)
            if vehicle is None:
                raise serializers.ValidationError("no such vehicle")
            return vehicle

        def validate_operator_id(self, value: int | None) -> Operator | None:
            if value is None:
                return None
            operator = Operator.objects.filter(pk=value).first()
            if operator is None:
                raise serializers.ValidationError("no such operator")
            return operator

    @extend_schema(
        operation_id="runs_create",
        request=CreateInput,
        responses={
            201: RunOutput,
            400: ErrorOutput,
            403: ErrorOutput,
            409: ErrorOutput,
            422: RefusalOutput,
        },
    )
    def post(self, request):
        data = self.CreateInput(data=request.data)
        data.is_valid(raise_exception=True)
        fields = dict(data.validated_data)
        outcome = run_create(
            actor=self.actor(),
            vehicle=fields.pop("vehicle_id"),
            operator=fields.pop("operator_id", None),
            **fields,
        )
        refused = outcome.refused
        if refused is not None:
            return refusal_response(refused.decision, outcome.run.pk)
        return Response(RunOutput(outcome.run).data, status=status.HTTP_201_CREATED)


class RunCollectionApi(RunListApi, RunCreateApi):
    """``/api/runs/``: GET lists (RunListApi), POST creates (RunCreateApi)."""

    # What OPTIONS describes for POST (a GenericAPIView's metadata needs a serializer).
    serializer_class = RunCreateApi.CreateInput


class RunDetailApi(RunApi):
    @extend_schema(operation_id="runs_retrieve", responses={200: RunOutput, 404: ErrorOutput})
    def get(self, request, run_id: str):
        return Response(RunOutput(_run_or_404(run_id, self.run_scope())).data)


class RunStateApi(RunApi):
    class StateOutput(serializers.Serializer):
        run_id = serializers.UUIDField(source="id")
        run_lifecycle_state = serializers.CharField()
        last_event = serializers.CharField()
        last_event_at = serializers.DateTimeField(allow_null=True)
        hot_state = serializers.DictField(child=serializers.CharField())

    @extend_schema(operation_id="runs_state", responses={200: StateOutput, 404: ErrorOutput})
    def get(self, request, run_id: str):
        run = _run_or_404(run_id, self.run_scope())
        run.hot_state = selectors.run_hot_state_get(get_redis(), run_id=run.pk)
        return Response(self.StateOutput(run).data)


# A change of vehicle has its own endpoint (``POST /api/runs/{id}/vehicle/``): its service
# moves the row and judges the new vehicle's claims itself, which details from a body must
# not stand in for.
GENERIC_EVENTS = [e.value for e in RunEvent if e is not RunEvent.CHANGE_VEHICLE]


class RunEventCreateApi(RunApi):
    class EventInput(serializers.Serializer):
        event = serializers.ChoiceField(choices=GENERIC_EVENTS)
        details = serializers.DictField(required=False, default=dict, help_text=DETAILS_HELP)

        def validate_details(self, value: dict) -> dict:
            problem = details_problem(value)
            if problem is not None:
                raise serializers.ValidationError(problem)
            return value

    class EventOutput(serializers.Serializer):
        run = RunOutput()
        transition = TransitionOutput()

    @extend_schema(
        operation_id="runs_events_create",
        request=EventInput,
        responses={
            200: EventOutput,
            400: ErrorOutput,
            403: RefusalOutput,
            404: ErrorOutput,
            409: ErrorOutput,
            422: RefusalOutput,
        },
    )
    def post(self, request, run_id: str):
        run = _run_or_404(run_id, self.run_scope())
        data = self.EventInput(data=request.data)
        data.is_valid(raise_exception=True)
        outcome = run_event_apply(
            run_id=run.pk,
            event=RunEvent(data.validated_data["event"]),
            details=data.validated_data["details"],
            actor=self.actor(),
        )
        if not outcome.decision.accepted:
            return refusal_response(outcome.decision, run.pk)
        return Response(self.EventOutput(outcome).data)


class RunHistoryApi(RunApi):
    @extend_schema(
        operation_id="runs_history", responses={200: TransitionOutput(many=True), 404: ErrorOutput}
    )
    def get(self, request, run_id: str):
        run = _run_or_404(run_id, self.run_scope())
        return Response(TransitionOutput(selectors.run_history_get(run_id=run.pk), many=True).data)
