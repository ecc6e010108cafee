"""Admin for run management: runs with their history and lifecycle actions, the fleet, people.

Lifecycle actions go through ``run_event_apply`` with the admin user as actor; a
refusal is shown with every failing guard's reason. The state is never edited by hand.
An action needs both the model's change permission (staff without it neither see nor
run it) and a lifecycle role (dispatcher, or operator for their own runs).
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.template.response import TemplateResponse

from runs.domain.lifecycle.events import RunEvent
from runs.domain.lifecycle.table import cancellation_event
from runs.models import Company, Operator, Run, RunLifecycleTransition, Vehicle
from runs.services import schedule
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


class TransitionInline(admin.TabularInline):
    model = RunLifecycleTransition
    extra = 0
    can_delete = False
    ordering = ["created_at", "id"]
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

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

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
    actions = ["confirm", "cancel", "interrupt", "short_turn"]
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
