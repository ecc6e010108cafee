"""The REST API's bodies for service alerts: strict input types and bounds, and the output.

Input fields take exactly the JSON type the schema states (DRF would turn ``5`` into
``"5"`` for a text, ``"3"`` into ``3`` for an integer, and read a date-time without its
offset in the server's zone): a body the schema forbids is a 400. Lists are bounded as
``alerts.validation`` bounds them, and their errors are one entry per item, as DRF's
nested serializers answer and as ``validation`` does for the rules the serializer cannot
check (references to the current GTFS version, period order, repeated languages).
``alert_input`` turns a checked body into the ``values.AlertInput`` the services take.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping

from django.core.validators import RegexValidator
from rest_framework import serializers
from rest_framework.fields import empty

from alerts.validation import (
    ID_MAX_LENGTH,
    LANGUAGE_MAX_LENGTH,
    LANGUAGE_TAG_PATTERN,
    MAX_ENTITIES,
    MAX_LANGUAGES,
    MAX_PERIODS,
    ROUTE_TYPE_MAX,
    TEXT_MAX_LENGTH,
)
from alerts.values import (
    CAUSES,
    EFFECTS,
    SEVERITIES,
    UNKNOWN_CAUSE,
    UNKNOWN_EFFECT,
    UNKNOWN_SEVERITY,
    ActivePeriod,
    AlertInput,
    AlertState,
    InformedEntity,
    TextField,
    Translation,
)

# RFC 3339 (JSON Schema's date-time): a "T", seconds and an offset, always.
_DATE_TIME = re.compile(
    r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})$"
)
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


class StrictCharField(serializers.CharField):
    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class StrictIntegerField(serializers.IntegerField):
    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, int):
            self.fail("invalid")
        return super().to_internal_value(data)


class StrictDateTimeField(serializers.DateTimeField):
    def to_internal_value(self, value):
        if not isinstance(value, str) or not _DATE_TIME.match(value):
            self.fail("invalid", format="RFC 3339, e.g. 2026-12-01T08:00:00Z")
        return super().to_internal_value(value)


class StrictDateField(serializers.DateField):
    def to_internal_value(self, value):
        if not isinstance(value, str) or not _DATE.match(value):
            self.fail("invalid", format="YYYY-MM-DD")
        return super().to_internal_value(value)


class EntryList(serializers.ListField):
    """A bounded list of objects whose errors are a list by position (``{}``: a good one)."""

    def to_internal_value(self, data):
        try:
            return super().to_internal_value(data)
        except serializers.ValidationError as error:
            if isinstance(error.detail, Mapping) and all(isinstance(k, int) for k in error.detail):
                raise serializers.ValidationError(
                    [error.detail.get(i, {}) for i in range(len(data))]
                ) from None
            raise


def _language() -> StrictCharField:
    return StrictCharField(
        max_length=LANGUAGE_MAX_LENGTH,
        required=False,
        allow_blank=True,
        default="",
        validators=[RegexValidator(LANGUAGE_TAG_PATTERN)],
        help_text="BCP-47 tag (en, es-419); blank or absent: the feed's default language",
    )


class HeaderTranslation(serializers.Serializer):
    language = _language()
    text = StrictCharField(max_length=TEXT_MAX_LENGTH[TextField.HEADER])


class DescriptionTranslation(serializers.Serializer):
    language = _language()
    text = StrictCharField(max_length=TEXT_MAX_LENGTH[TextField.DESCRIPTION])


class UrlTranslation(serializers.Serializer):
    language = _language()
    text = StrictCharField(
        max_length=TEXT_MAX_LENGTH[TextField.URL], help_text="an http or https URL"
    )


class ActivePeriodBody(serializers.Serializer):
    start = StrictDateTimeField(required=False, allow_null=True, help_text="absent: open")
    end = StrictDateTimeField(
        required=False, allow_null=True, help_text="exclusive, after start; absent: open"
    )


def _gtfs_id(table: str) -> StrictCharField:
    return StrictCharField(
        max_length=ID_MAX_LENGTH,
        required=False,
        allow_blank=True,
        help_text=f"an id of {table} in the current GTFS version; blank or absent: not given",
    )


class InformedEntityBody(serializers.Serializer):
    agency_id = _gtfs_id("agency.txt")
    route_id = _gtfs_id("routes.txt")
    route_type = StrictIntegerField(
        required=False, allow_null=True, min_value=0, max_value=ROUTE_TYPE_MAX
    )
    direction_id = StrictIntegerField(
        required=False, allow_null=True, min_value=0, max_value=1, help_text="with a route_id"
    )
    stop_id = _gtfs_id("stops.txt")
    trip_id = _gtfs_id("trips.txt")
    trip_start_date = StrictDateField(
        required=False, allow_null=True, help_text="the trip's service date; with a trip_id"
    )


def _choice(choices: tuple[str, ...], default: str) -> serializers.ChoiceField:
    return serializers.ChoiceField(choices=list(choices), default=default)


def _texts(child: serializers.Serializer, *, required: bool) -> EntryList:
    return EntryList(
        child=child,
        min_length=1 if required else 0,
        max_length=MAX_LANGUAGES,
        required=required,
        **({} if required else {"default": list}),
    )


class AlertBody(serializers.Serializer):
    """A whole alert (POST)."""

    cause = _choice(CAUSES, UNKNOWN_CAUSE)
    effect = _choice(EFFECTS, UNKNOWN_EFFECT)
    severity = _choice(SEVERITIES, UNKNOWN_SEVERITY)
    header = _texts(HeaderTranslation(), required=True)
    description = _texts(DescriptionTranslation(), required=False)
    url = _texts(UrlTranslation(), required=False)
    active_periods = EntryList(
        child=ActivePeriodBody(), max_length=MAX_PERIODS, required=False, default=list
    )
    informed_entities = EntryList(child=InformedEntityBody(), min_length=1, max_length=MAX_ENTITIES)


class AlertChanges(AlertBody):
    """A PATCH: any of ``AlertBody``'s fields, each given replacing the alert's.

    Not DRF's ``partial``: that also waives the required fields *inside* the lists (a
    translation without its text)."""

    def get_fields(self) -> dict:
        fields = super().get_fields()
        for field in fields.values():
            field.required = False
            field.default = empty
        return fields


def alert_input(data: Mapping, *, base: AlertInput | None = None) -> AlertInput:
    """The checked body as an ``AlertInput``: a whole one, or ``base`` with what ``data`` gives."""
    given = {}
    for name in ("cause", "effect", "severity"):
        if name in data:
            given[name] = data[name]
    for text_field in TextField:
        if text_field.value in data:
            given[text_field.value] = tuple(
                Translation(t.get("language", ""), t["text"]) for t in data[text_field.value]
            )
    if "active_periods" in data:
        given["active_periods"] = tuple(
            ActivePeriod(p.get("start"), p.get("end")) for p in data["active_periods"]
        )
    if "informed_entities" in data:
        given["informed_entities"] = tuple(
            InformedEntity(**entity) for entity in data["informed_entities"]
        )
    return AlertInput(**given) if base is None else dataclasses.replace(base, **given)


class TranslationOutput(serializers.Serializer):
    language = serializers.CharField(help_text="blank: the feed's default language")
    text = serializers.CharField()


class ActivePeriodOutput(serializers.Serializer):
    start = serializers.DateTimeField(allow_null=True)
    end = serializers.DateTimeField(allow_null=True)


class InformedEntityOutput(serializers.Serializer):
    agency_id = serializers.CharField()
    route_id = serializers.CharField()
    route_type = serializers.IntegerField(allow_null=True)
    direction_id = serializers.IntegerField(allow_null=True)
    stop_id = serializers.CharField()
    trip_id = serializers.CharField()
    trip_start_date = serializers.DateField(allow_null=True)


class AlertOutput(serializers.Serializer):
    """An alert: its content (``content``, an AlertInput), state and record (``record``)."""

    id = serializers.IntegerField(source="record.pk")
    state = serializers.ChoiceField(choices=[s.value for s in AlertState])
    active = serializers.BooleanField(help_text="riders are told of it now")
    cause = serializers.CharField(source="content.cause")
    effect = serializers.CharField(source="content.effect")
    severity = serializers.CharField(source="content.severity")
    header = TranslationOutput(many=True, source="content.header")
    description = TranslationOutput(many=True, source="content.description")
    url = TranslationOutput(many=True, source="content.url")
    active_periods = ActivePeriodOutput(many=True, source="content.active_periods")
    informed_entities = InformedEntityOutput(many=True, source="content.informed_entities")
    created_at = serializers.DateTimeField(source="record.created_at")
    created_by = serializers.CharField(source="record.created_by.username", allow_null=True)
    updated_at = serializers.DateTimeField(source="record.updated_at")
    ended_at = serializers.DateTimeField(source="record.ended_at", allow_null=True)
    ended_by = serializers.CharField(source="record.ended_by.username", allow_null=True)
