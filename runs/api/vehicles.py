"""Vehicle endpoints: the fleet, and one vehicle with its live hot state.

Operators read the whole fleet, as dispatchers do: a driver picks the bus they sign on
to, and where each bus is and how full is public anyway (VehiclePositions). Which run a
vehicle is on is not: an operator sees ``current_run_id`` and ``stop_status`` only for
their own run (``RunScope``, as on the run endpoints).

The live state tolerates a bad record (``selectors.vehicle_live_state_get`` reads it as
absent, counted): a vehicle's answer never fails because of what Redis holds.
"""

from __future__ import annotations

import dataclasses

from drf_spectacular.utils import extend_schema
from rest_framework import exceptions, serializers
from rest_framework.generics import GenericAPIView
from rest_framework.response import Response

from databus.redis import get_redis
from runs import selectors
from runs.api.base import RunApi
from schedule_engine.feeds.skips import RecordReader
from schedule_engine.feeds.snapshots import HotStateSkip


class VehicleOutput(serializers.Serializer):
    id = serializers.CharField()
    label = serializers.CharField()
    license_plate = serializers.CharField()
    tracker_imei = serializers.CharField(
        allow_null=True, help_text="the AVL tracker's IMEI (Redis Streams records name it)"
    )
    wheelchair_accessible = serializers.BooleanField()
    company = serializers.CharField(source="company.name", allow_null=True, default=None)


# A GenericAPIView for its paginator (the default one), so the schema documents the page.
class VehicleListApi(RunApi, GenericAPIView):
    @extend_schema(operation_id="vehicles_list", responses={200: VehicleOutput(many=True)})
    def get(self, request):
        page = self.paginate_queryset(selectors.vehicle_list())
        return self.get_paginated_response(VehicleOutput(page, many=True).data)


class VehicleDetailApi(RunApi):
    class PositionOutput(serializers.Serializer):
        latitude = serializers.FloatField()
        longitude = serializers.FloatField()
        bearing = serializers.FloatField(allow_null=True)
        speed = serializers.FloatField(allow_null=True)
        odometer = serializers.FloatField(allow_null=True)
        timestamp = serializers.IntegerField()

    class OccupancyOutput(serializers.Serializer):
        occupancy_percentage = serializers.IntegerField(source="percentage", allow_null=True)
        occupancy_count = serializers.IntegerField(source="count", allow_null=True)
        occupancy_status = serializers.CharField(source="status")
        timestamp = serializers.IntegerField()

    class StopStatusOutput(serializers.Serializer):
        current_status = serializers.CharField()
        current_stop_sequence = serializers.IntegerField(allow_null=True)
        stop_id = serializers.CharField(allow_null=True)
        timestamp = serializers.IntegerField()

    class DetailOutput(VehicleOutput):
        position = serializers.SerializerMethodField()
        occupancy = serializers.SerializerMethodField()
        current_run_id = serializers.CharField(source="live.current_run_id", allow_null=True)
        stop_status = serializers.SerializerMethodField()

        def _nested(self, serializer, value):
            if value is None:
                return None
            try:
                return serializer(value).data
            except (ValueError, TypeError) as error:
                # One live part the serializer cannot render leaves the rest of the answer.
                RecordReader(selectors.API_FEED).report(
                    f"{self.instance.pk}:{serializer.__name__}",
                    HotStateSkip.BUILD_FAILED,
                    f"{type(error).__name__}: {error}",
                )
                return None

        def get_position(self, vehicle) -> dict | None:
            return self._nested(VehicleDetailApi.PositionOutput, vehicle.live.position)

        def get_occupancy(self, vehicle) -> dict | None:
            return self._nested(VehicleDetailApi.OccupancyOutput, vehicle.live.occupancy)

        def get_stop_status(self, vehicle) -> dict | None:
            return self._nested(VehicleDetailApi.StopStatusOutput, vehicle.live.stop_status)

    @extend_schema(operation_id="vehicles_retrieve", responses={200: DetailOutput})
    def get(self, request, vehicle_id: str):
        vehicle = selectors.vehicle_get(vehicle_id=vehicle_id)
        if vehicle is None:
            raise exceptions.NotFound("no such vehicle")
        live = selectors.vehicle_live_state_get(get_redis(), vehicle_id=vehicle.pk)
        scope = self.run_scope()
        foreign_run = (
            live.current_run_id
            and not scope.every_run
            and not selectors.run_visible(run_id=live.current_run_id, scope=scope)
        )
        if foreign_run:
            # Position and occupancy are public (VehiclePositions); another operator's run
            # is not: the vehicle reads as running nothing of the reader's.
            live = dataclasses.replace(live, current_run_id=None, stop_status=None)
        vehicle.live = live
        return Response(self.DetailOutput(vehicle).data)
