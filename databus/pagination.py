"""The page every list endpoint answers: ``{count, next, previous, results}`` by limit and offset.

DRF's LimitOffsetPagination, but strict: a ``limit`` or ``offset`` that is not an integer
in range is a 400 with the field's message (DRF's own quietly falls back to the default,
so ``?limit=abc`` answered a full page; and DRF's IntegerField takes ``0.0`` for 0, which
the schema's ``integer`` does not), and the schema states the range. The default
paginator of every DRF view (``REST_FRAMEWORK["DEFAULT_PAGINATION_CLASS"]``); a view
paginates through ``GenericAPIView.paginate_queryset`` so drf-spectacular documents the
page. Lowest layer on purpose: runs and schedule_engine both use it. Imports DRF only.
"""

from __future__ import annotations

import re

from rest_framework import serializers
from rest_framework.pagination import LimitOffsetPagination

_INTEGER_TEXT = re.compile(r"-?[0-9]+")
_NOT_AN_INTEGER = serializers.IntegerField.default_error_messages["invalid"]


class LimitOffsetPage(LimitOffsetPagination):
    max_limit = 1000  # one answer stays a few hundred kilobytes

    def get_limit(self, request) -> int:
        return self._integer(request, self.limit_query_param, self.default_limit, 1, self.max_limit)

    def get_offset(self, request) -> int:
        return self._integer(request, self.offset_query_param, 0, 0, None)

    def _integer(self, request, name: str, default: int, minimum: int, maximum: int | None):
        raw = request.query_params.get(name)
        if raw is None:
            return default
        if not _INTEGER_TEXT.fullmatch(raw):
            raise serializers.ValidationError({name: [_NOT_AN_INTEGER]})
        field = serializers.IntegerField(min_value=minimum, max_value=maximum)
        try:
            return field.run_validation(raw)
        except serializers.ValidationError as error:
            raise serializers.ValidationError({name: error.detail}) from None

    def get_schema_operation_parameters(self, view) -> list[dict]:
        bounds = {
            self.limit_query_param: {"minimum": 1, "maximum": self.max_limit},
            self.offset_query_param: {"minimum": 0},
        }
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            parameter["schema"].update(bounds.get(parameter["name"], {}))
        return parameters
