"""Service alerts: what dispatchers tell riders about disruptions, published as GTFS-RT Alerts.

An alert (``ServiceAlert``) has its active periods, the entities it informs (routes,
stops, trips, agencies, route types: each row one GTFS-RT EntitySelector) and its texts,
one row per text and language (``AlertTranslation``). Written only by ``alerts.services``
(the API and the admin call it), which checks the rules of ``alerts.validation`` first; read
through ``alerts.selectors``. An alert is never deleted: ending it (``ended_at``) takes it
out of the feed and keeps its record. GTFS ids are text, checked against the current GTFS
version when written, not foreign keys (a version is replaced whole by the next import).
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from alerts.validation import (
    ENTITY_NAMES_NOTHING,
    ID_MAX_LENGTH,
    LANGUAGE_MAX_LENGTH,
    PERIOD_ENDS_BEFORE_START,
    PERIOD_WITHOUT_BOUNDS,
)
from alerts.values import (
    CAUSES,
    EFFECTS,
    SEVERITIES,
    UNKNOWN_CAUSE,
    UNKNOWN_EFFECT,
    UNKNOWN_SEVERITY,
    TextField,
)


def _choices(names: tuple[str, ...]) -> list[tuple[str, str]]:
    return [(name, name.replace("_", " ").capitalize()) for name in names]


class ServiceAlert(models.Model):
    cause = models.CharField(max_length=32, choices=_choices(CAUSES), default=UNKNOWN_CAUSE)
    effect = models.CharField(max_length=32, choices=_choices(EFFECTS), default=UNKNOWN_EFFECT)
    severity = models.CharField(
        max_length=16, choices=_choices(SEVERITIES), default=UNKNOWN_SEVERITY
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    ended_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-created_at", "-pk"]
        # The feed build and the active list read the alerts not ended.
        indexes = [
            models.Index(fields=["created_at"], condition=Q(ended_at=None), name="alert_not_ended")
        ]

    def __str__(self) -> str:
        return f"alert {self.pk}: {self.effect}"


class AlertActivePeriod(models.Model):
    """``[start, end)``; a missing side is open (GTFS-RT TimeRange)."""

    alert = models.ForeignKey(ServiceAlert, on_delete=models.CASCADE, related_name="active_periods")
    start = models.DateTimeField(null=True, blank=True)
    end = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["pk"]  # as the dispatcher gave them
        constraints = [
            models.CheckConstraint(
                condition=Q(start=None) | Q(end=None) | Q(end__gt=models.F("start")),
                name="alert_period_ends_after_start",
                violation_error_message=PERIOD_ENDS_BEFORE_START,
            ),
            models.CheckConstraint(
                condition=~Q(start=None) | ~Q(end=None),
                name="alert_period_has_a_bound",
                violation_error_message=PERIOD_WITHOUT_BOUNDS,
            ),
        ]

    def __str__(self) -> str:
        return f"{self.start or '…'} to {self.end or '…'}"


class AlertInformedEntity(models.Model):
    """One GTFS-RT EntitySelector: the fields given combine; blank/null = not given."""

    alert = models.ForeignKey(
        ServiceAlert, on_delete=models.CASCADE, related_name="informed_entities"
    )
    agency_id = models.CharField(max_length=ID_MAX_LENGTH, blank=True)
    route_id = models.CharField(max_length=ID_MAX_LENGTH, blank=True)
    route_type = models.IntegerField(null=True, blank=True)
    direction_id = models.SmallIntegerField(null=True, blank=True, choices=[(0, "0"), (1, "1")])
    stop_id = models.CharField(max_length=ID_MAX_LENGTH, blank=True)
    trip_id = models.CharField(max_length=ID_MAX_LENGTH, blank=True)
    trip_start_date = models.DateField(null=True, blank=True)

    class Meta:
        ordering = ["pk"]
        verbose_name_plural = "informed entities"
        constraints = [
            models.CheckConstraint(
                condition=~Q(agency_id="")
                | ~Q(route_id="")
                | ~Q(route_type=None)
                | ~Q(stop_id="")
                | ~Q(trip_id=""),
                name="alert_entity_names_something",
                violation_error_message=ENTITY_NAMES_NOTHING,
            )
        ]

    def __str__(self) -> str:
        named = (
            ("agency", self.agency_id),
            ("route", self.route_id),
            ("route type", self.route_type),
            ("stop", self.stop_id),
            ("trip", self.trip_id),
        )
        return ", ".join(f"{kind} {value}" for kind, value in named if value not in ("", None))


class AlertTranslation(models.Model):
    """One text of an alert in one language ("" = the feed's default language)."""

    alert = models.ForeignKey(ServiceAlert, on_delete=models.CASCADE, related_name="translations")
    field = models.CharField(max_length=16, choices=[(f.value, f.value) for f in TextField])
    language = models.CharField(max_length=LANGUAGE_MAX_LENGTH, blank=True)
    text = models.TextField()

    class Meta:
        ordering = ["pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["alert", "field", "language"], name="alert_text_once_per_language"
            )
        ]

    def __str__(self) -> str:
        return f"{self.field} [{self.language or 'default'}]"
