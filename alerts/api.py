"""Service alert endpoints: list, create, read, change, end (``/api/alerts/``).

Any role reads (dispatcher or operator: riders see the same alerts in the feed); only
dispatchers write (``DispatcherWrites``, and ``alerts.services`` checks it again). The views
only translate: a body checked by ``serializers`` goes to the services, whose refusals
become the API's error bodies (``runs.api.base.json_exception_handler``): ``AlertInvalid``
a 400 with its errors by field, ``AlertNotFound`` a 404, ``AlertEnded`` a 409.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from contextlib import contextmanager

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import exceptions, permissions, serializers, status
from rest_framework.generics import GenericAPIView
from rest_framework.response import Response

from alerts import selectors
from alerts.models import ServiceAlert
from alerts.serializers import AlertBody, AlertChanges, AlertOutput, alert_input
from alerts.services import (
    AlertEnded,
    AlertInvalid,
    AlertNotFound,
    alert_create,
    alert_end,
    alert_update,
)
from alerts.values import AlertState
from runs.api.base import ErrorOutput, RunApi
from runs.api.parsers import JSONParser
from runs.domain.lifecycle.roles import ActorRole

ALL = "all"
_ALERT_ID = re.compile(r"[0-9]{1,18}")  # a positive bigint, never a query that overflows
ALERT_ID = OpenApiParameter(
    "alert_id", OpenApiTypes.INT, OpenApiParameter.PATH, description="the alert's id"
)


class DispatcherWrites(permissions.BasePermission):
    message = "only dispatchers change service alerts"

    def has_permission(self, request, view) -> bool:
        return request.method in permissions.SAFE_METHODS or view.actor().role is (
            ActorRole.DISPATCHER
        )


class AlertApi(RunApi):
    permission_classes = [*RunApi.permission_classes, DispatcherWrites]
    parser_classes = [JSONParser]

    def alert_or_404(self, alert_id: str) -> ServiceAlert:
        alert = None
        if _ALERT_ID.fullmatch(alert_id):
            alert = selectors.alert_get(alert_id=int(alert_id))
        if alert is None:
            raise exceptions.NotFound("no such alert")
        return alert

    def answer(self, alert: ServiceAlert, code: int = status.HTTP_200_OK) -> Response:
        return Response(AlertOutput(alert_view(alert, now=_now())).data, status=code)


def alert_view(alert: ServiceAlert, *, now: dt.datetime) -> dict:
    """What ``AlertOutput`` renders of an alert (prefetched parts)."""
    state = selectors.alert_state_of(alert, now=now)
    return {
        "record": alert,
        "content": selectors.alert_input_of(alert),
        "state": state.value,
        "active": state is AlertState.ACTIVE,
    }


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class Conflict(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_code = "conflict"


@contextmanager
def _service_refusals() -> Iterator[None]:
    """The services' refusals as the API's error answers."""
    try:
        yield
    except AlertInvalid as error:
        raise exceptions.ValidationError(error.errors) from None
    except AlertNotFound:
        raise exceptions.NotFound("no such alert") from None
    except AlertEnded as error:
        raise Conflict(str(error)) from None
    except PermissionError as error:
        raise exceptions.PermissionDenied(str(error)) from None


# A GenericAPIView for its paginator (the default one), so the schema documents the page.
class AlertCollectionApi(AlertApi, GenericAPIView):
    """``GET`` lists alerts by state (active by default), ``POST`` creates one."""

    serializer_class = AlertBody  # what OPTIONS describes for POST

    class FilterInput(serializers.Serializer):
        state = serializers.ChoiceField(
            choices=[*(s.value for s in AlertState), ALL],
            default=AlertState.ACTIVE.value,
            help_text="active (told now), upcoming, expired, ended, or all",
        )

    @extend_schema(
        operation_id="alerts_list",
        parameters=[FilterInput],
        responses={200: AlertOutput(many=True)},
    )
    def get(self, request):
        filters = self.FilterInput(data=request.query_params.dict())
        filters.is_valid(raise_exception=True)
        state = filters.validated_data["state"]
        now = _now()
        alerts = selectors.alert_list(state=None if state == ALL else AlertState(state), now=now)
        page = self.paginate_queryset(alerts)
        return self.get_paginated_response(
            AlertOutput([alert_view(alert, now=now) for alert in page], many=True).data
        )

    @extend_schema(
        operation_id="alerts_create",
        request=AlertBody,
        responses={201: AlertOutput},
    )
    def post(self, request):
        body = AlertBody(data=request.data)
        body.is_valid(raise_exception=True)
        with _service_refusals():
            alert = alert_create(actor=self.actor(), data=alert_input(body.validated_data))
        return self.answer(alert, status.HTTP_201_CREATED)


class AlertDetailApi(AlertApi):
    @extend_schema(
        operation_id="alerts_retrieve",
        parameters=[ALERT_ID],
        responses={200: AlertOutput, 404: ErrorOutput},
    )
    def get(self, request, alert_id: str):
        return self.answer(self.alert_or_404(alert_id))

    @extend_schema(
        operation_id="alerts_partial_update",
        parameters=[ALERT_ID],
        request=AlertChanges,
        responses={200: AlertOutput, 404: ErrorOutput, 409: ErrorOutput},
        description="Change an alert not ended: the fields given replace the alert's "
        "(a list replaces the whole list).",
    )
    def patch(self, request, alert_id: str):
        alert = self.alert_or_404(alert_id)
        body = AlertChanges(data=request.data)
        body.is_valid(raise_exception=True)
        data = alert_input(body.validated_data, base=selectors.alert_input_of(alert))
        with _service_refusals():
            alert = alert_update(actor=self.actor(), alert_id=alert.pk, data=data)
        return self.answer(alert)


class AlertEndApi(AlertApi):
    @extend_schema(
        operation_id="alerts_end",
        parameters=[ALERT_ID],
        request=None,
        responses={200: AlertOutput, 404: ErrorOutput},
        description="End an alert now: it leaves the Alerts feed. Ending it again changes nothing.",
    )
    def post(self, request, alert_id: str):
        alert = self.alert_or_404(alert_id)
        with _service_refusals():
            return self.answer(alert_end(actor=self.actor(), alert_id=alert.pk))
