"""The service alert editor: an alert with its periods, informed entities and texts inline.

The inline forms check their part with the same rules as the API (``alerts.validation``:
``periods_problems``, ``entities_problems`` against the current GTFS version,
``translations_problems``), each problem shown on its form and field: a stop the current
version does not hold is an error on that row's stop. Saving goes through the same services
(``alert_create`` / ``alert_update``), so the notification and the feed build follow as
from the API; "End now" ends the selected alerts through ``alert_end``. Nothing is saved
by the admin itself, and alerts are never deleted (an ended alert is kept, read-only).

Writing needs both the model's permission (add, change: staff without it see nothing, or
read only with the view permission) and the dispatcher role (``actor_for_user``), as the
run actions do (``runs.admin``).
"""

from __future__ import annotations

from collections.abc import Sequence

from django import forms
from django.contrib import admin, messages
from django.contrib.auth import get_permission_codename
from django.utils import timezone

from alerts import selectors
from alerts.models import AlertActivePeriod, AlertInformedEntity, AlertTranslation, ServiceAlert
from alerts.schedule_refs import schedule_refs_read
from alerts.services import AlertEnded, AlertNotFound, alert_create, alert_end, alert_update
from alerts.validation import (
    MAX_ENTITIES,
    MAX_LANGUAGES,
    MAX_PERIODS,
    entities_problems,
    languages_problems,
    periods_problems,
    translations_problems,
)
from alerts.values import ActivePeriod, AlertInput, AlertState, InformedEntity, TextField
from alerts.values import Translation as TranslationValue
from runs.domain.lifecycle.roles import ActorRole
from runs.services.actors import actor_for_user


def _may_write(request, action: str, alert: ServiceAlert | None = None) -> bool:
    """The model permission ``action`` on alerts and the dispatcher role; an ended alert
    is kept as it was."""
    codename = get_permission_codename(action, ServiceAlert._meta)
    if not request.user.has_perm(f"alerts.{codename}"):
        return False
    actor = actor_for_user(request.user)
    if actor is None or actor.role is not ActorRole.DISPATCHER:
        return False
    return alert is None or alert.ended_at is None


class PartFormSet(forms.BaseInlineFormSet):
    """An inline part of an alert, checked as a whole by ``problems``, errors on its forms."""

    def kept_forms(self) -> list[forms.ModelForm]:
        return [
            form
            for form in self.forms
            if form.cleaned_data and not form.cleaned_data.get("DELETE", False)
        ]

    def values(self) -> list:
        return [self.value_of(form.cleaned_data) for form in self.kept_forms()]

    def value_of(self, data: dict):
        raise NotImplementedError

    def problems(self, values: list) -> list:
        raise NotImplementedError

    def clean(self) -> None:
        super().clean()
        if any(form.errors for form in self.forms):
            return  # the forms' own errors first
        kept = self.kept_forms()
        _show(self.problems([self.value_of(form.cleaned_data) for form in kept]), kept)


def _show(problems: list, forms_: Sequence[forms.Form]) -> None:
    """Put ``validation``'s problems of a list on its forms (or on the list as a whole)."""
    if problems and all(isinstance(p, str) for p in problems):
        raise forms.ValidationError(problems)
    for form, item in zip(forms_, problems, strict=False):
        for name, messages_ in item.items():
            form.add_error(None if name == "non_field_errors" else name, messages_)


class PeriodFormSet(PartFormSet):
    def value_of(self, data: dict) -> ActivePeriod:
        return ActivePeriod(data.get("start"), data.get("end"))

    def problems(self, values: list) -> list:
        return periods_problems(values)


class EntityFormSet(PartFormSet):
    def value_of(self, data: dict) -> InformedEntity:
        return InformedEntity(**{name: data[name] for name in _ENTITY_FIELDS})

    def problems(self, values: list) -> list:
        return entities_problems(values, schedule_refs_read(values))


_ENTITY_FIELDS = (
    "agency_id",
    "route_id",
    "route_type",
    "direction_id",
    "stop_id",
    "trip_id",
    "trip_start_date",
)


class TranslationFormSet(PartFormSet):
    def value_of(self, data: dict) -> tuple[TextField, TranslationValue]:
        return TextField(data["field"]), TranslationValue(data.get("language") or "", data["text"])

    def problems(self, values: list) -> list:
        languages = languages_problems([translation for _, translation in values])
        if languages:
            return languages
        items: list[dict] = [{} for _ in values]
        for text_field in TextField:
            positions = [i for i, (field, _) in enumerate(values) if field is text_field]
            found = translations_problems(text_field, [values[i][1] for i in positions])
            if found and all(isinstance(p, str) for p in found):
                raise forms.ValidationError(found)
            for i, item in zip(positions, found, strict=False):
                items[i] = item
        return items if any(items) else []


class _PartInline(admin.TabularInline):
    """Editable exactly when the alert is (``_may_write``); never deleted on its own."""

    extra = 1

    def has_view_permission(self, request, obj=None) -> bool:
        # As the alert's own page: the view or the change permission.
        return request.user.has_perm("alerts.view_servicealert") or request.user.has_perm(
            "alerts.change_servicealert"
        )

    def has_add_permission(self, request, obj=None) -> bool:
        return _may_write(request, "change" if obj else "add", obj)

    def has_change_permission(self, request, obj=None) -> bool:
        return _may_write(request, "change" if obj else "add", obj)

    def has_delete_permission(self, request, obj=None) -> bool:
        return _may_write(request, "change" if obj else "add", obj)


class PeriodInline(_PartInline):
    model = AlertActivePeriod
    formset = PeriodFormSet
    fields = ["start", "end"]
    max_num = MAX_PERIODS
    verbose_name = "active period (start, end: either may be open)"


class EntityInline(_PartInline):
    model = AlertInformedEntity
    formset = EntityFormSet
    fields = list(_ENTITY_FIELDS)
    max_num = MAX_ENTITIES
    verbose_name = "informed entity (of the current GTFS version)"


class TranslationInline(_PartInline):
    model = AlertTranslation
    formset = TranslationFormSet
    fields = ["field", "language", "text"]
    max_num = 3 * MAX_LANGUAGES
    verbose_name = "text (language blank: the feed's default)"


class StateFilter(admin.SimpleListFilter):
    title = "state"
    parameter_name = "state"

    def lookups(self, request, model_admin):
        return [(state.value, state.value) for state in AlertState]

    def queryset(self, request, queryset):
        if self.value() not in {state.value for state in AlertState}:
            return queryset
        return queryset.filter(selectors.state_filter(AlertState(self.value()), now=timezone.now()))


@admin.register(ServiceAlert)
class ServiceAlertAdmin(admin.ModelAdmin):
    list_display = ["id", "header", "effect", "severity", "active", "periods", "state"]
    list_filter = [StateFilter, "effect", "severity", "cause"]
    search_fields = [
        "translations__text",
        "informed_entities__route_id",
        "informed_entities__stop_id",
    ]
    fields = ["cause", "effect", "severity", "created_by", "created_at", "ended_at", "ended_by"]
    readonly_fields = ["created_by", "created_at", "ended_at", "ended_by"]
    inlines = [TranslationInline, EntityInline, PeriodInline]
    actions = ["end_now"]

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related(*selectors.PARTS)

    def has_add_permission(self, request) -> bool:
        return _may_write(request, "add")

    def has_change_permission(self, request, obj=None) -> bool:
        return _may_write(request, "change", obj)

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # end an alert instead: its record stays

    @admin.display(description="header")
    def header(self, alert: ServiceAlert) -> str:
        return selectors.alert_input_of(alert).default_header()

    @admin.display(description="active", boolean=True)
    def active(self, alert: ServiceAlert) -> bool:
        return selectors.alert_state_of(alert, now=timezone.now()) is AlertState.ACTIVE

    @admin.display(description="state")
    def state(self, alert: ServiceAlert) -> str:
        return selectors.alert_state_of(alert, now=timezone.now()).value

    @admin.display(description="periods")
    def periods(self, alert: ServiceAlert) -> str:
        return "; ".join(str(period) for period in alert.active_periods.all()) or "always"

    def save_model(self, request, obj, form, change) -> None:
        """Nothing here: ``save_related`` hands the alert with its parts to the service."""

    def save_related(self, request, form, formsets, change) -> None:
        parts = {formset.model: formset for formset in formsets}
        texts = parts[AlertTranslation].values()
        data = AlertInput(
            cause=form.cleaned_data["cause"],
            effect=form.cleaned_data["effect"],
            severity=form.cleaned_data["severity"],
            **{field.value: tuple(t for f, t in texts if f is field) for field in TextField},
            active_periods=tuple(parts[AlertActivePeriod].values()),
            informed_entities=tuple(parts[AlertInformedEntity].values()),
        )
        actor = actor_for_user(request.user)
        if change:
            alert = alert_update(actor=actor, alert_id=form.instance.pk, data=data)
        else:
            alert = alert_create(actor=actor, data=data)
        # What the admin logs and redirects to is the alert the service wrote.
        form.instance.pk = alert.pk

    def construct_change_message(self, request, form, formsets, add):
        # The service replaced the parts (the formsets saved nothing): log the alert's own.
        return super().construct_change_message(request, form, [], add)

    @admin.action(permissions=["change"], description="End now (leaves the Alerts feed)")
    def end_now(self, request, queryset):
        actor = actor_for_user(request.user)
        ended = 0
        for alert in queryset.filter(ended_at=None):
            try:
                alert_end(actor=actor, alert_id=alert.pk)
            except (AlertNotFound, AlertEnded) as error:
                self.message_user(request, f"alert {alert.pk}: {error}", messages.ERROR)
                continue
            ended += 1
        self.message_user(request, f"{ended} alert(s) ended.", messages.SUCCESS)
