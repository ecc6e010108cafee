"""Read-only schedule endpoints over the current feed: routes, stops, one trip, a service day.

Each view reads through `schedule_engine.selectors` and shapes the answer with
its own output serializer; a missing current feed gives empty lists, or 404
where a single answer is asked for.
"""

from __future__ import annotations

import datetime as dt

from django.db.models import Q
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.exceptions import NotFound
from rest_framework.generics import GenericAPIView, ListAPIView
from rest_framework.response import Response
from rest_framework.views import APIView

from databus.pagination import LimitOffsetPage
from schedule_engine import selectors
from schedule_engine.gtfs_import.fields import format_time
from schedule_engine.models import Route, Stop


class AgencyDateTimeField(serializers.DateTimeField):
    """ISO 8601 with the agency's UTC offset (as the selectors give it), not the server's zone."""

    def to_representation(self, value: dt.datetime) -> str:
        return value.isoformat()


SEARCH = OpenApiParameter("q", str, description="case-insensitive match on id or name")


def _current_feed_or_404():
    feed = selectors.current_feed_get()
    if feed is None:
        raise NotFound("no current GTFS feed")
    return feed


class RouteListApi(ListAPIView):
    class ScheduleRouteSerializer(serializers.ModelSerializer):
        class Meta:
            model = Route
            fields = (
                "route_id",
                "agency_id",
                "short_name",
                "long_name",
                "route_type",
                "color",
                "text_color",
            )

    serializer_class = ScheduleRouteSerializer

    def get_queryset(self):
        feed = selectors.current_feed_get()
        if feed is None:
            return Route.objects.none()
        routes = selectors.route_list(feed=feed)
        if q := self.request.query_params.get("q"):
            routes = routes.filter(
                Q(route_id__icontains=q) | Q(short_name__icontains=q) | Q(long_name__icontains=q)
            )
        return routes

    @extend_schema(parameters=[SEARCH], summary="Routes of the current feed")
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)


class StopListApi(ListAPIView):
    class ScheduleStopSerializer(serializers.ModelSerializer):
        class Meta:
            model = Stop
            fields = (
                "stop_id",
                "code",
                "name",
                "lat",
                "lon",
                "location_type",
                "parent_station",
                "wheelchair_boarding",
            )

    serializer_class = ScheduleStopSerializer

    def get_queryset(self):
        feed = selectors.current_feed_get()
        if feed is None:
            return Stop.objects.none()
        stops = selectors.stop_list(feed=feed)
        if q := self.request.query_params.get("q"):
            stops = stops.filter(Q(stop_id__icontains=q) | Q(name__icontains=q))
        return stops

    @extend_schema(parameters=[SEARCH], summary="Stops of the current feed")
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)


class TripStopTimeSerializer(serializers.Serializer):
    stop_sequence = serializers.IntegerField()
    stop_id = serializers.CharField()
    arrival_time = serializers.CharField(help_text="GTFS HH:MM:SS, may exceed 24:00:00")
    departure_time = serializers.CharField()
    timepoint = serializers.BooleanField()
    distance_m = serializers.FloatField(allow_null=True, help_text="metres along the shape")


class TripDetailApi(APIView):
    class ScheduleTripSerializer(serializers.Serializer):
        trip_id = serializers.CharField()
        route_id = serializers.CharField()
        service_id = serializers.CharField()
        direction_id = serializers.IntegerField(allow_null=True)
        shape_id = serializers.CharField(allow_null=True)
        start_time = serializers.CharField()
        feed_id = serializers.IntegerField()
        stop_times = TripStopTimeSerializer(many=True)
        shape = serializers.DictField(
            allow_null=True, help_text="GeoJSON Feature (LineString, [lon, lat]) of the shape"
        )

    @extend_schema(
        responses=ScheduleTripSerializer, summary="A trip: stop times and shape (GeoJSON)"
    )
    def get(self, request, trip_id: str):
        trip = selectors.scheduled_trip_get(trip_id)
        if trip is None:
            raise NotFound(f"no trip {trip_id!r} in the current feed")
        shape = None
        if trip.shape_id:
            points = selectors.shape_points_get(feed_id=trip.feed_id, shape_id=trip.shape_id)
            shape = {
                "type": "Feature",
                "properties": {"shape_id": trip.shape_id},
                "geometry": {
                    "type": "LineString",
                    "coordinates": [[lon, lat] for lat, lon in points],
                },
            }
        stop_times = [
            {
                "stop_sequence": s.stop_sequence,
                "stop_id": s.stop_id,
                "arrival_time": format_time(s.arrival_s),
                "departure_time": format_time(s.departure_s),
                "timepoint": s.timepoint,
                "distance_m": s.distance_m,
            }
            for s in trip.stops
        ]
        return Response(
            self.ScheduleTripSerializer(
                {
                    "trip_id": trip.trip_id,
                    "route_id": trip.route_id,
                    "service_id": trip.service_id,
                    "direction_id": trip.direction_id,
                    "shape_id": trip.shape_id,
                    "start_time": trip.start_time,
                    "feed_id": trip.feed_id,
                    "stop_times": stop_times,
                    "shape": shape,
                }
            ).data
        )


class ServiceDayPagination(LimitOffsetPage):
    """The default page, with the day it lists: ``service_date`` and ``timezone`` beside
    ``count``, ``next``, ``previous`` and ``results`` (and the schema says so)."""

    def get_paginated_response_schema(self, schema: dict) -> dict:
        page = super().get_paginated_response_schema(schema)
        page["properties"] = {
            "service_date": {"type": "string", "format": "date"},
            "timezone": {"type": "string", "example": "America/New_York"},
            **page["properties"],
        }
        page["required"] = ["service_date", "timezone", *page.get("required", [])]
        return page


class ServiceDayApi(GenericAPIView):
    pagination_class = ServiceDayPagination

    class ServiceDayTripSerializer(serializers.Serializer):
        trip_id = serializers.CharField()
        route_id = serializers.CharField()
        direction_id = serializers.IntegerField(allow_null=True)
        service_id = serializers.CharField()
        start_time = serializers.CharField()
        first_departure = AgencyDateTimeField()
        last_arrival = AgencyDateTimeField()
        frequency_based = serializers.BooleanField()
        exact_times = serializers.BooleanField()

    @extend_schema(
        summary="Trips running on a service day (agency time zone), frequency trips expanded",
        responses=ServiceDayTripSerializer(many=True),
        parameters=[
            OpenApiParameter(
                "date", OpenApiTypes.DATE, OpenApiParameter.PATH, description="YYYY-MM-DD"
            ),
            OpenApiParameter("route_id", str, description="only this route's trips"),
        ],
    )
    def get(self, request, date: str):
        try:
            service_date = dt.date.fromisoformat(date)
        except ValueError:
            raise NotFound(f"{date!r} is not a date (YYYY-MM-DD)") from None
        feed = _current_feed_or_404()
        instances = selectors.service_day_trips(service_date, feed=feed, with_stop_times=False)
        if route_id := request.query_params.get("route_id"):
            instances = [i for i in instances if i.route_id == route_id]
        page = self.paginate_queryset(instances)
        response = self.get_paginated_response(self.ServiceDayTripSerializer(page, many=True).data)
        response.data = {
            "service_date": service_date.isoformat(),
            "timezone": feed.timezone,
            **response.data,
        }
        return response
