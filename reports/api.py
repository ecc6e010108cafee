"""The report endpoints (``/api/reports/…``): JSON by default, CSV with ``?format=csv``.

Each reads its filters with ``reports.filters.parse`` (a bad one is a 400 naming the
parameter, in JSON whatever the format asked), calls its report's selector and writes the
report: the JSON body is the whole report, the CSV its ``rows`` (``reports.csv_rendering``).
Dispatchers and planners read reports (``reports.access``); anonymous callers get 401,
other roles 403 (the error bodies of ``runs.api.base``).
"""

from __future__ import annotations

import dataclasses

from django.http import Http404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import exceptions, permissions, serializers
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from reports.access import can_read_reports
from reports.csv_rendering import CsvRenderer
from reports.filters import FIELDS, MAX_ID_LENGTH, FilterError, ReportFilters, parse
from reports.selectors.accuracy import AccuracyRow, prediction_accuracy
from reports.selectors.data_quality import DataQualityReport, data_quality_report
from reports.selectors.days import report_today
from reports.selectors.headways import HeadwayReport, headway_report
from reports.selectors.on_time import OnTimeReport, on_time_report
from reports.selectors.running_times import RunningTimeReport, running_time_report
from runs.api.base import json_exception_handler

FORMATS = ("json", "csv")


class CanReadReports(permissions.BasePermission):
    message = "reports are for dispatchers and planners"

    def has_permission(self, request, view) -> bool:
        return can_read_reports(request.user)


class DateRangeInput(serializers.Serializer):
    """The query parameters, for the schema; ``reports.filters.parse`` reads them."""

    start = serializers.DateField(
        required=False, help_text="first service date (default: end, or today)"
    )
    end = serializers.DateField(
        required=False, help_text="last service date, included (default: start); ≤ 366 days"
    )


class FiltersInput(DateRangeInput):
    route_id = serializers.CharField(required=False, max_length=MAX_ID_LENGTH)
    direction_id = serializers.ChoiceField(choices=[0, 1], required=False)
    stop_id = serializers.CharField(required=False, max_length=MAX_ID_LENGTH)
    hour = serializers.IntegerField(
        required=False, min_value=0, max_value=23, help_text="of the day, agency time zone"
    )


FORMAT_PARAMETER = OpenApiParameter(
    "format",
    OpenApiTypes.STR,
    enum=FORMATS,
    description="json (default) or csv: a header row, then one row per record (`rows`)",
)


class FiltersOutput(serializers.Serializer):
    start = serializers.DateField()
    end = serializers.DateField()
    route_id = serializers.CharField(allow_null=True)
    direction_id = serializers.IntegerField(allow_null=True)
    stop_id = serializers.CharField(allow_null=True)
    hour = serializers.IntegerField(allow_null=True)


def _share() -> serializers.FloatField:
    return serializers.FloatField(allow_null=True, min_value=0, max_value=1)


class OnTimeRowOutput(serializers.Serializer):
    dimension = serializers.ChoiceField(choices=["route", "stop", "hour", "total"])
    key = serializers.CharField(allow_blank=True, help_text="route id, stop id or hour")
    departures = serializers.IntegerField()
    early = serializers.IntegerField()
    on_time = serializers.IntegerField()
    late = serializers.IntegerField()
    early_share = _share()
    on_time_share = _share()
    late_share = _share()


class OnTimeOutput(serializers.Serializer):
    filters = FiltersOutput()
    early_s = serializers.IntegerField(help_text="early: departed more than this before")
    late_s = serializers.IntegerField(help_text="late: departed more than this after")
    total = OnTimeRowOutput()
    rows = OnTimeRowOutput(many=True)


class HeadwayRowOutput(serializers.Serializer):
    route_id = serializers.CharField()
    direction_id = serializers.IntegerField(allow_null=True)
    stop_id = serializers.CharField(allow_blank=True, help_text="'' in routes: every stop")
    headways = serializers.IntegerField()
    mean_headway_s = serializers.FloatField(allow_null=True)
    scheduled_mean_headway_s = serializers.FloatField(allow_null=True)
    cv = serializers.FloatField(allow_null=True, help_text="stdev / mean (population)")
    bunched = serializers.IntegerField(help_text="headways under 25 % of scheduled")
    bunched_share = _share()


class HeadwayOutput(serializers.Serializer):
    filters = FiltersOutput()
    frequent_headway_s = serializers.IntegerField()
    rows = HeadwayRowOutput(many=True)
    routes = HeadwayRowOutput(many=True)


class RunningTimeRowOutput(serializers.Serializer):
    route_id = serializers.CharField()
    direction_id = serializers.IntegerField(allow_null=True)
    from_stop_id = serializers.CharField(allow_blank=True, help_text="'': whole trips")
    to_stop_id = serializers.CharField(allow_blank=True)
    count = serializers.IntegerField()
    observed_p50_s = serializers.IntegerField(allow_null=True)
    observed_p90_s = serializers.IntegerField(allow_null=True)
    observed_p95_s = serializers.IntegerField(allow_null=True)
    scheduled_p50_s = serializers.IntegerField(allow_null=True)


class RunningTimeOutput(serializers.Serializer):
    filters = FiltersOutput()
    rows = RunningTimeRowOutput(many=True)


class AccuracyRowOutput(serializers.Serializer):
    group = serializers.ChoiceField(choices=["bucket", "route", "day", "hour"])
    bucket = serializers.CharField()
    route_id = serializers.CharField(allow_null=True)
    day = serializers.DateField(allow_null=True)
    hour = serializers.IntegerField(allow_null=True)
    count = serializers.IntegerField()
    mae_s = serializers.FloatField(allow_null=True)
    bias_s = serializers.FloatField(allow_null=True, help_text="mean of predicted - observed")
    within_share = _share()
    band_early_s = serializers.IntegerField(allow_null=True)
    band_late_s = serializers.IntegerField(allow_null=True)


class AccuracyOutput(serializers.Serializer):
    filters = FiltersOutput()
    timezone = serializers.CharField()
    overall_accuracy = _share()
    predictions = serializers.IntegerField()
    unobserved = serializers.IntegerField()
    rows = AccuracyRowOutput(many=True)


class DataQualityRowOutput(serializers.Serializer):
    date = serializers.DateField()
    vehicles_reporting = serializers.IntegerField()
    pings = serializers.IntegerField()
    ping_interval_median_s = serializers.FloatField(allow_null=True)
    ping_interval_p95_s = serializers.FloatField(allow_null=True)
    pings_matched = serializers.IntegerField()
    matched_share = _share()
    dead_letters = serializers.IntegerField()


class DataQualityOutput(serializers.Serializer):
    filters = FiltersOutput()
    rows = DataQualityRowOutput(many=True)
    dead_letters = inline_serializer(
        "DeadLettersByReason",
        {"reason": serializers.CharField(), "count": serializers.IntegerField()},
        many=True,
    )


class ReportApi(APIView):
    permission_classes = [permissions.IsAuthenticated, CanReadReports]
    renderer_classes = [JSONRenderer, CsvRenderer]
    csv_columns: tuple[str, ...] = ()
    narrowing = True  # the report takes route, direction, stop and hour

    def get_exception_handler(self):
        return json_exception_handler

    def perform_content_negotiation(self, request, force=False):
        try:
            return super().perform_content_negotiation(request, force)
        except Http404:  # DRF's answer to an unknown ?format=
            raise exceptions.ValidationError({"format": ["must be json or csv"]}) from None

    def handle_exception(self, exc):
        # An error is JSON (the error bodies), whatever format the report was asked in.
        self.request.accepted_renderer = JSONRenderer()
        self.request.accepted_media_type = JSONRenderer.media_type
        return super().handle_exception(exc)

    def filters(self) -> ReportFilters:
        query = self.request.query_params
        # The API is strict where a page's form is lenient (parse reads a blank field as
        # absent): a blank or padded parameter is a 400, as on every list (runs.api.runs).
        for name in (*FIELDS, "format"):
            value = query.get(name)
            if value is not None and (not value or value != value.strip()):
                raise exceptions.ValidationError({name: ["may not be blank or padded"]})
        if query.get("format", "json") not in FORMATS:
            raise exceptions.ValidationError({"format": ["must be json or csv"]})
        if not self.narrowing:
            for name in ("route_id", "direction_id", "stop_id", "hour"):
                if query.get(name):
                    raise exceptions.ValidationError({name: ["not a filter of this report"]})
        try:
            return parse(query, today=report_today())
        except FilterError as error:
            raise exceptions.ValidationError({error.field: [error.message]}) from None


def _schema(output, summary: str, filters=FiltersInput):
    return extend_schema(
        summary=summary,
        parameters=[filters, FORMAT_PARAMETER],
        responses={200: output},
    )


class OnTimeApi(ReportApi):
    csv_columns = OnTimeReport.columns

    @_schema(OnTimeOutput, "On-time performance: early, on time, late by route, stop, hour")
    def get(self, request):
        return Response(OnTimeOutput(on_time_report(self.filters())).data)


class HeadwaysApi(ReportApi):
    csv_columns = HeadwayReport.columns

    @_schema(HeadwayOutput, "Headway regularity of frequent service: CV and bunching")
    def get(self, request):
        return Response(HeadwayOutput(headway_report(self.filters())).data)


class RunningTimesApi(ReportApi):
    csv_columns = RunningTimeReport.columns

    @_schema(RunningTimeOutput, "Running times per trip and segment: observed percentiles")
    def get(self, request):
        return Response(RunningTimeOutput(running_time_report(self.filters())).data)


class PredictionAccuracyApi(ReportApi):
    csv_columns = tuple(field.name for field in dataclasses.fields(AccuracyRow))

    @_schema(AccuracyOutput, "Prediction accuracy: MAE, bias, TransitApp band shares")
    def get(self, request):
        return Response(AccuracyOutput(prediction_accuracy(self.filters())).data)


class DataQualityApi(ReportApi):
    csv_columns = DataQualityReport.columns
    narrowing = False

    @_schema(
        DataQualityOutput,
        "Data quality: vehicles, ping intervals, matched share, DLQ",
        DateRangeInput,
    )
    def get(self, request):
        return Response(DataQualityOutput(data_quality_report(self.filters())).data)
