"""Admin for run management: runs with their history and lifecycle actions, the fleet, people.

Lifecycle actions go through ``run_event_apply`` with the admin user as actor; a
refusal is shown with every failing guard's reason. The state is never edited by hand.
Trip operations (cancel ahead, re-enable, add a trip, skip stops, end; a run's change of
vehicle) go through ``runs.services.trip_operations`` the same way: a refusal is shown on
the form's fields.
An action needs both the model's change permission (staff without it neither see nor
run it) and a lifecycle role (dispatcher, or operator for their own runs).
"""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse

from runs.domain.lifecycle.events import RunEvent
from runs.domain.lifecycle.states import CLAIMING_STATES
from runs.domain.lifecycle.table import cancellation_event
from runs.models import (
    Company,
    Operator,
    Run,
    RunLifecycleTransition,
    TripOperation,
    TripOperationAttempt,
    Vehicle,
)
from runs.services import schedule
from runs.services import trip_operations as operations
from runs.services.actors import actor_for_user
from runs.services.lifecycle import RunConflict, RunDetailsInvalid, run_event_apply


@admin.register(Company)
class CompanyAdmin(admin.ModelAdmin):
    search_fields = ["name"]


@admin.register(Operator)
class OperatorAdmin(admin.ModelAdmin):
    list_display = ["__str__", "user", "company", "badge"]
    list_filter = ["company"]
    search_fields = ["user__username", "user__first_name", "user__last_name", "badge"]
    autocomplete_fields = ["user"]


@admin.register(Vehicle)
class VehicleAdmin(admin.ModelAdmin):
    list_display = [
        "id",
        "label",
        "license_plate",
        "tracker_imei",
        "wheelchair_accessible",
        "company",
    ]
    list_filter = ["company", "wheelchair_accessible"]
    search_fields = ["id", "label", "license_plate", "tracker_imei"]


class AttemptRecordInline(admin.TabularInline):
    """A record of attempts: shown in order, never added, changed or deleted here."""

    extra = 0
    can_delete = False
    ordering = ["created_at", "id"]

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


class TransitionInline(AttemptRecordInline):
    model = RunLifecycleTransition
    fields = readonly_fields = [
        "created_at",
        "event",
        "from_state",
        "to_state",
        "accepted",
        "refusal",
        "failed_guards",
        "actions",
        "actor",
        "actor_role",
        "payload",
    ]

    @admin.display(description="refused by")
    def failed_guards(self, transition: RunLifecycleTransition) -> str:
        return "; ".join(g["reason"] for g in transition.guard_results if not g["passed"])


@admin.register(Run)
class RunAdmin(admin.ModelAdmin):
    list_display = [
        "id",
        "run_lifecycle_state",
        "route_id",
        "trip_id",
        "vehicle",
        "operator",
        "start_date",
        "last_event",
        "last_event_at",
    ]
    list_filter = ["run_lifecycle_state", "route_id", "start_date", "schedule_relationship"]
    search_fields = [
        "=id",
        "trip_id",
        "route_id",
        "vehicle__id",
        "vehicle__label",
        "operator__user__username",
    ]
    list_select_related = ["vehicle", "operator__user"]
    inlines = [TransitionInline]
    actions = ["confirm", "cancel", "interrupt", "short_turn", "change_vehicle"]
    date_hierarchy = "start_date"

    def has_add_permission(self, request) -> bool:
        # A run is created by signing on (POST /api/runs/: validated and initialized at once).
        return False

    def get_readonly_fields(self, request, obj=None):
        # A run changes only through lifecycle events.
        return [f.name for f in Run._meta.fields]

    def _apply(self, request, run: Run, event: RunEvent | None, details=None) -> None:
        actor = actor_for_user(request.user)
        if actor is None:
            self.message_user(
                request, "You have neither the dispatcher nor the operator role.", messages.ERROR
            )
            return
        if event is None:
            self.message_user(
                request, f"{run}: cannot be cancelled from its state.", messages.ERROR
            )
            return
        try:
            outcome = run_event_apply(run_id=run.pk, event=event, details=details, actor=actor)
        except (RunConflict, RunDetailsInvalid) as error:
            self.message_user(request, f"{run}: {error}", messages.ERROR)
            return
        decision = outcome.decision
        if decision.accepted:
            self.message_user(
                request, f"{run.trip_id}: {event.value} → {decision.target.value}", messages.SUCCESS
            )
        else:
            reasons = "; ".join(decision.reasons)
            self.message_user(
                request, f"{run.trip_id}: {event.value} refused: {reasons}", messages.ERROR
            )

    @admin.action(
        permissions=["change"], description="Confirm selected runs (operator confirmation)"
    )
    def confirm(self, request, queryset):
        for run in queryset:
            self._apply(request, run, RunEvent.RUN_CONFIRMED_BY_OPERATOR)

    @admin.action(permissions=["change"], description="Cancel selected runs")
    def cancel(self, request, queryset):
        for run in queryset:
            self._apply(request, run, cancellation_event(run.state))

    @admin.action(permissions=["change"], description="Interrupt selected runs")
    def interrupt(self, request, queryset):
        for run in queryset:
            self._apply(request, run, RunEvent.RUN_INTERRUPTED)

    @admin.action(permissions=["change"], description="Short turn the selected run at a stop…")
    def short_turn(self, request, queryset):
        if queryset.count() != 1:
            self.message_user(request, "Short turn one run at a time.", messages.WARNING)
            return None
        run = queryset.get()
        if "apply" in request.POST:
            self._apply(
                request,
                run,
                RunEvent.RUN_SHORT_TURNED,
                {"stop_id": request.POST.get("stop_id", "")},
            )
            return None
        trip = schedule.scheduled_trip_facts_get(run.trip_id)
        stops = trip.stop_ids[:-1] if trip else ()
        context = {
            **self.admin_site.each_context(request),
            "run": run,
            "stops": stops,
            "opts": self.model._meta,
            "title": "Short turn",
        }
        return TemplateResponse(request, "admin/runs/run/short_turn.html", context)

    @admin.action(permissions=["change"], description="Change the selected run's vehicle…")
    def change_vehicle(self, request, queryset):
        if queryset.count() != 1:
            self.message_user(request, "Change one run's vehicle at a time.", messages.WARNING)
            return None
        run = queryset.get()
        if "apply" in request.POST:
            self._change_vehicle(request, run, request.POST.get("vehicle_id", ""))
            return None
        claimed = Run.objects.filter(run_lifecycle_state__in=[s.value for s in CLAIMING_STATES])
        vehicles = Vehicle.objects.exclude(pk__in=claimed.values("vehicle_id"))
        context = {
            **self.admin_site.each_context(request),
            "run": run,
            "vehicles": vehicles,
            "opts": self.model._meta,
            "title": "Change vehicle",
        }
        return TemplateResponse(request, "admin/runs/run/change_vehicle.html", context)

    def _change_vehicle(self, request, run: Run, vehicle_id: str) -> None:
        actor = actor_for_user(request.user)
        if actor is None:
            self.message_user(
                request, "You have neither the dispatcher nor the operator role.", messages.ERROR
            )
            return
        try:
            outcome = operations.run_vehicle_change(
                actor=actor, run_id=run.pk, vehicle_id=vehicle_id
            )
        except operations.VehicleNotFound:
            self.message_user(request, f"{run}: no vehicle {vehicle_id!r}.", messages.ERROR)
            return
        except RunConflict as error:
            self.message_user(request, f"{run}: {error}", messages.ERROR)
            return
        if outcome.decision.accepted:
            self.message_user(
                request, f"{run.trip_id}: now on vehicle {vehicle_id}", messages.SUCCESS
            )
        else:
            reasons = "; ".join(outcome.decision.reasons)
            self.message_user(
                request, f"{run.trip_id}: change of vehicle refused: {reasons}", messages.ERROR
            )


class AttemptInline(AttemptRecordInline):
    model = TripOperationAttempt
    fields = readonly_fields = [
        "created_at",
        "action",
        "accepted",
        "refusal",
        "reason",
        "actor",
        "actor_role",
        "payload",
    ]


class CancelAheadForm(forms.Form):
    trip_id = forms.CharField(max_length=255)
    start_date = forms.DateField(help_text="The service day (YYYY-MM-DD).")
    until = forms.DateTimeField(
        required=False, help_text="Default: the trip's scheduled end plus a margin."
    )


class AddTripForm(forms.Form):
    trip_id = forms.CharField(max_length=255, help_text="A trip id the current GTFS lacks.")
    route_id = forms.CharField(max_length=255)
    direction_id = forms.TypedChoiceField(
        choices=[("", "—"), ("0", "0"), ("1", "1")],
        coerce=int,
        empty_value=None,
        required=False,
    )
    start_date = forms.DateField(help_text="The service day (YYYY-MM-DD).")
    start_time = forms.RegexField(
        r"^\d{1,2}:[0-5]\d:[0-5]\d$", required=False, help_text="Default: the first departure."
    )
    vehicle = forms.ModelChoiceField(queryset=Vehicle.objects.all())
    stop_times = forms.JSONField(
        widget=forms.Textarea(attrs={"rows": 8, "cols": 80}),
        help_text='[{"stop_sequence": 1, "stop_id": "S1", "arrival_time": "08:00:00", '
        '"departure_time": "08:00:00"}, …] in service-day time.',
    )

    def clean_stop_times(self):
        try:
            return operations.stop_time_inputs(self.cleaned_data["stop_times"])
        except ValueError as error:
            raise forms.ValidationError(str(error)) from None


class SkipStopsForm(forms.Form):
    trip_id = forms.CharField(max_length=255)
    start_date = forms.DateField(help_text="The service day (YYYY-MM-DD).")
    stop_sequences = forms.CharField(
        max_length=2000, help_text="The stop sequences to skip, separated by commas."
    )
    detour_alert = forms.BooleanField(required=False, help_text="Also create a DETOUR alert.")
    until = forms.DateTimeField(
        required=False, help_text="Default: the trip's scheduled end plus a margin."
    )

    def clean_stop_sequences(self) -> list[int]:
        parts = [p.strip() for p in self.cleaned_data["stop_sequences"].split(",") if p.strip()]
        if not parts or not all(p.isdigit() and len(p) <= 9 for p in parts):
            raise forms.ValidationError("stop sequences are whole numbers, separated by commas")
        return [int(p) for p in parts]


@admin.register(TripOperation)
class TripOperationAdmin(admin.ModelAdmin):
    """Trip operations: the add form cancels a trip ahead; "add a trip" and "skip stops" are
    forms of their own (linked from the list); re-enable and end are actions."""

    list_display = [
        "id",
        "kind",
        "trip_id",
        "start_date",
        "route_id",
        "vehicle",
        "active_from",
        "active_until",
        "ended_at",
        "created_by",
    ]
    list_filter = ["kind", "start_date", "ended_at"]
    search_fields = ["trip_id", "route_id", "vehicle__id"]
    list_select_related = ["vehicle", "created_by"]
    inlines = [AttemptInline]
    actions = ["reenable", "end"]
    change_list_template = "admin/runs/tripoperation/change_list.html"

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # an operation ends; its row and attempts stay

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in TripOperation._meta.fields]

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path("add-trip/", view(self.add_trip_view), name="runs_tripoperation_add_trip"),
            path("skip-stops/", view(self.skip_stops_view), name="runs_tripoperation_skip_stops"),
            *super().get_urls(),
        ]

    def add_view(self, request, form_url="", extra_context=None):
        return self._form_view(
            request,
            CancelAheadForm,
            "Cancel a trip ahead",
            lambda actor, data: operations.trip_cancel_ahead(actor=actor, **data),
        )

    def add_trip_view(self, request):
        def add(actor, data):
            return operations.trip_add(actor=actor, **data)

        return self._form_view(request, AddTripForm, "Add a trip", add)

    def skip_stops_view(self, request):
        def skip(actor, data):
            return operations.trip_skip_stops(
                actor=actor, stop_sequences=data.pop("stop_sequences"), **data
            )

        return self._form_view(request, SkipStopsForm, "Skip stops of a trip", skip)

    def _form_view(self, request, form_class, title: str, perform):
        if not self.has_add_permission(request):
            raise PermissionDenied
        actor = actor_for_user(request.user)
        form = form_class(request.POST or None)
        if request.method == "POST" and form.is_valid():
            if actor is None:
                form.add_error(None, "You have neither the dispatcher nor the operator role.")
            else:
                outcome = perform(actor, dict(form.cleaned_data))
                if outcome.accepted:
                    self.message_user(request, f"{outcome.operation}: published.", messages.SUCCESS)
                    return HttpResponseRedirect(reverse("admin:runs_tripoperation_changelist"))
                for name, errors in outcome.errors.items():
                    for error in errors:
                        form.add_error(name if name in form.fields else None, error)
        context = {
            **self.admin_site.each_context(request),
            "form": form,
            "opts": self.model._meta,
            "title": title,
        }
        return TemplateResponse(request, "admin/runs/tripoperation/operation_form.html", context)

    def _end_each(self, request, queryset, perform, verb: str) -> None:
        actor = actor_for_user(request.user)
        if actor is None:
            self.message_user(
                request, "You have neither the dispatcher nor the operator role.", messages.ERROR
            )
            return
        for operation in queryset:
            outcome = perform(actor=actor, operation_id=operation.pk)
            if outcome.accepted:
                self.message_user(request, f"{operation}: {verb}.", messages.SUCCESS)
            else:
                self.message_user(
                    request, f"{operation}: refused: {outcome.attempt.reason}", messages.ERROR
                )

    @admin.action(permissions=["change"], description="Re-enable the selected cancelled trips")
    def reenable(self, request, queryset):
        self._end_each(request, queryset, operations.trip_reenable, "re-enabled")

    @admin.action(permissions=["change"], description="End the selected added trips / skips")
    def end(self, request, queryset):
        self._end_each(request, queryset, operations.operation_end, "ended")
