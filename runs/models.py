"""Durable run data: companies, operators, vehicles, runs and every lifecycle attempt.

Written only by the services in ``runs.services`` (and the admin's plain CRUD for
companies, operators and vehicles); read through ``runs.selectors``.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q

from runs.domain.lifecycle.events import RunEvent
from runs.domain.lifecycle.roles import ActorRole
from runs.domain.lifecycle.states import CLAIMING_STATES, RunState
from runs.domain.telemetry.limits import VEHICLE_ID_RULE, is_valid_vehicle_id

STATE_CHOICES = [(s.value, s.value) for s in RunState]
EVENT_CHOICES = [(e.value, e.value) for e in RunEvent]
ROLE_CHOICES = [(r.value, r.value) for r in ActorRole]
_CLAIMING = Q(run_lifecycle_state__in=sorted(s.value for s in CLAIMING_STATES))


class Company(models.Model):
    name = models.CharField(max_length=200, unique=True)

    class Meta:
        verbose_name_plural = "companies"
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Operator(models.Model):
    """A driver: one Django user (role from the ``operator`` group), working for a company."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="operator"
    )
    company = models.ForeignKey(
        Company, on_delete=models.PROTECT, null=True, blank=True, related_name="operators"
    )
    badge = models.CharField(max_length=64, blank=True)

    class Meta:
        ordering = ["user__username"]

    def __str__(self) -> str:
        return self.user.get_full_name() or self.user.get_username()


def validate_vehicle_id(value: str) -> None:
    """The ingest's id rule: a vehicle saved with another id could never publish."""
    if not is_valid_vehicle_id(value):
        raise ValidationError(f"a vehicle id is {VEHICLE_ID_RULE}")


# A tracker's IMEI as gateways report it: 15 digits (14 plus the Luhn check digit), also
# accepted without the check digit (14) and as an IMEISV (16). The check digit is not
# verified: trackers in service report IMEIs whose check digit is wrong.
TRACKER_IMEI_RULE = "14 to 16 digits (an IMEI, with or without its check digit, or an IMEISV)"


def validate_tracker_imei(value: str) -> None:
    if not (value.isascii() and value.isdigit() and 14 <= len(value) <= 16):
        raise ValidationError(f"a tracker IMEI is {TRACKER_IMEI_RULE}")


class Vehicle(models.Model):
    """A vehicle; its id is the one it publishes telemetry under (``transit/vehicle/{id}/…``)."""

    id = models.CharField(primary_key=True, max_length=64, validators=[validate_vehicle_id])
    label = models.CharField(max_length=100, blank=True)
    license_plate = models.CharField(max_length=32, blank=True)
    wheelchair_accessible = models.BooleanField(default=False)
    company = models.ForeignKey(
        Company, on_delete=models.PROTECT, null=True, blank=True, related_name="vehicles"
    )
    # The Redis Streams ingress maps a record's device_id to the vehicle through this; one
    # tracker is on one vehicle (unique), and a vehicle without one is NULL (not "").
    tracker_imei = models.CharField(
        max_length=16,
        unique=True,
        null=True,
        blank=True,
        validators=[validate_tracker_imei],
        help_text=f"The AVL tracker's IMEI: {TRACKER_IMEI_RULE}.",
    )

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return self.label or self.id


class Run(models.Model):
    """One vehicle operating one scheduled trip on one service day."""

    class ScheduleRelationship(models.TextChoices):
        SCHEDULED = "SCHEDULED"
        ADDED = "ADDED"
        UNSCHEDULED = "UNSCHEDULED"
        CANCELED = "CANCELED"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    vehicle = models.ForeignKey(Vehicle, on_delete=models.PROTECT, related_name="runs")
    operator = models.ForeignKey(
        Operator, on_delete=models.PROTECT, null=True, blank=True, related_name="runs"
    )
    route_id = models.CharField(max_length=255)
    trip_id = models.CharField(max_length=255)
    shape_id = models.CharField(max_length=255, blank=True)
    direction_id = models.PositiveSmallIntegerField(null=True, blank=True)
    start_date = models.DateField()
    start_time = models.CharField(max_length=8, blank=True)  # "HH:MM:SS", may exceed 24:00:00
    schedule_relationship = models.CharField(
        max_length=16, choices=ScheduleRelationship.choices, default=ScheduleRelationship.SCHEDULED
    )
    run_lifecycle_state = models.CharField(
        max_length=16, choices=STATE_CHOICES, default=RunState.REQUESTED.value
    )
    last_event = models.CharField(max_length=40, choices=EVENT_CHOICES, blank=True)
    last_event_at = models.DateTimeField(null=True, blank=True)
    feed_version = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["-start_date", "start_time", "id"]
        indexes = [
            models.Index(fields=["run_lifecycle_state", "start_date"], name="run_state_date_idx"),
            models.Index(fields=["route_id", "start_date"], name="run_route_date_idx"),
            models.Index(fields=["vehicle", "start_date"], name="run_vehicle_date_idx"),
        ]
        # The durable form of the resource claims: two runs never hold one resource.
        constraints = [
            models.UniqueConstraint(
                fields=["vehicle"], condition=_CLAIMING, name="run_one_claim_per_vehicle"
            ),
            models.UniqueConstraint(
                fields=["trip_id"], condition=_CLAIMING, name="run_one_claim_per_trip"
            ),
            models.UniqueConstraint(
                fields=["operator"], condition=_CLAIMING, name="run_one_claim_per_operator"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.trip_id} {self.start_date} ({self.run_lifecycle_state})"

    @property
    def state(self) -> RunState:
        return RunState(self.run_lifecycle_state)


class RunLifecycleTransition(models.Model):
    """One attempted event on a run, applied or refused, with every guard's result."""

    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="transitions")
    event = models.CharField(max_length=40, choices=EVENT_CHOICES)
    from_state = models.CharField(max_length=16, choices=STATE_CHOICES)
    to_state = models.CharField(max_length=16, choices=STATE_CHOICES)
    accepted = models.BooleanField()
    refusal = models.CharField(max_length=20, blank=True)
    guard_results = models.JSONField(default=list)  # [{"guard", "passed", "reason"}]
    actions = models.JSONField(default=list)  # names of the actions run
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    actor_role = models.CharField(max_length=16, choices=ROLE_CHOICES)
    payload = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(db_index=True)

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [
            models.Index(fields=["run", "created_at"], name="transition_run_time_idx"),
            models.Index(fields=["event", "created_at"], name="transition_event_time_idx"),
        ]

    def __str__(self) -> str:
        verdict = "applied" if self.accepted else "refused"
        return f"{self.event} {self.from_state}→{self.to_state} ({verdict})"


class TripOperation(models.Model):
    """A dispatcher's change to a trip that no run carries: cancelled ahead, added, or
    with stops skipped. Published in TripUpdates (through ``keys.TRIP_OPERATIONS``) from
    ``active_from`` until ``active_until``, or until ended (re-enabled, for a cancel)."""

    class Kind(models.TextChoices):
        CANCEL = "cancel"
        ADD = "add"
        SKIP_STOPS = "skip_stops"

    kind = models.CharField(max_length=16, choices=Kind.choices)
    trip_id = models.CharField(max_length=255)
    start_date = models.DateField()  # the service day
    start_time = models.CharField(max_length=8, blank=True)  # "HH:MM:SS", may exceed 24:00:00
    route_id = models.CharField(max_length=255, blank=True)
    direction_id = models.PositiveSmallIntegerField(null=True, blank=True)
    # ADD: the vehicle that runs the added trip.
    vehicle = models.ForeignKey(
        Vehicle, on_delete=models.PROTECT, null=True, blank=True, related_name="added_trips"
    )
    # ADD: [{stop_sequence, stop_id, arrival_time, departure_time}], times "HH:MM:SS" of
    # the service day (as in stop_times.txt), turned into instants when published.
    stop_times = models.JSONField(default=list, blank=True)
    skipped_stop_sequences = models.JSONField(default=list, blank=True)  # SKIP_STOPS
    active_from = models.DateTimeField()
    active_until = models.DateTimeField()
    ended_at = models.DateTimeField(null=True, blank=True)
    ended_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    # SKIP_STOPS: the DETOUR service alert created with it (``alerts.Alert`` id; no foreign
    # key: the alerts app sits beside this one, and an alert outlives its detour's row).
    alert_id = models.PositiveIntegerField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    feed_version = models.CharField(max_length=64, blank=True)  # the GTFS feed it was checked on

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["ended_at", "active_until"], name="tripop_open_until_idx"),
            models.Index(fields=["trip_id", "start_date"], name="tripop_trip_date_idx"),
        ]
        constraints = [
            # One open cancellation, one open added trip per trip and service day.
            models.UniqueConstraint(
                fields=["trip_id", "start_date"],
                condition=Q(kind="cancel", ended_at__isnull=True),
                name="tripop_one_open_cancel",
            ),
            models.UniqueConstraint(
                fields=["trip_id", "start_date"],
                condition=Q(kind="add", ended_at__isnull=True),
                name="tripop_one_open_add",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.trip_id} {self.start_date}"


class TripOperationAttempt(models.Model):
    """One attempted trip operation, accepted or refused, with who asked and why it was refused."""

    class Action(models.TextChoices):
        CANCEL = "cancel"
        REENABLE = "reenable"
        ADD = "add"
        SKIP_STOPS = "skip_stops"
        END = "end"

    operation = models.ForeignKey(
        TripOperation, on_delete=models.SET_NULL, null=True, blank=True, related_name="attempts"
    )
    action = models.CharField(max_length=16, choices=Action.choices)
    accepted = models.BooleanField()
    refusal = models.CharField(max_length=16, blank=True)  # invalid, conflict, forbidden, …
    reason = models.TextField(blank=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    actor_role = models.CharField(max_length=16, choices=ROLE_CHOICES)
    payload = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(db_index=True)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        verdict = "accepted" if self.accepted else f"refused ({self.refusal})"
        return f"{self.action} {verdict}"
