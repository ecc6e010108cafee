"""Writes of service alerts: create, update, end. Check, write, then notify.

Every path that changes an alert (the REST API, the admin, another app's operation) calls
these, with an ``Actor`` whose role came from the user's groups (``runs.services.actors``):
only a dispatcher (superusers dispatch) may write, anyone else gets ``PermissionError``.
The content is an ``alerts.values.AlertInput``, checked by ``alerts.validation`` against
the current GTFS version before anything is written (``AlertInvalid`` with the errors by
field). After the commit, ``databus.notify.alert_changed`` tells live clients and an Alerts
feed build is queued; an ended alert leaves the feed at that build.

From another app, e.g. a detour announced with a trip operation::

    from alerts.services import alert_create
    from alerts.values import ActivePeriod, AlertInput, InformedEntity, Translation

    alert = alert_create(
        actor=actor,
        data=AlertInput(
            effect="DETOUR",
            cause="CONSTRUCTION",
            header=(Translation("", "Route 1 detours around Main Street"),),
            informed_entities=(InformedEntity(route_id="R1", trip_id="T1",
                                              trip_start_date=service_date),),
            active_periods=(ActivePeriod(start=now, end=trip_end),),
        ),
    )

``alert_update(actor=, alert_id=, data=)`` replaces the whole content (the API's PATCH
merges first); ``alert_end(actor=, alert_id=)`` sets ``ended_at`` (again: nothing changes).
Called inside a transaction, the notification and the build wait for the outer commit.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging

from django.db import transaction
from django.utils import timezone
from kombu.exceptions import OperationalError

from alerts import selectors
from alerts.models import AlertActivePeriod, AlertInformedEntity, AlertTranslation, ServiceAlert
from alerts.schedule_refs import schedule_refs_read
from alerts.tasks import alerts_feed_build
from alerts.validation import Errors, alert_problems
from alerts.values import ActivePeriod, AlertInput, TextField
from databus import notify
from runs.domain.lifecycle.roles import ActorRole
from runs.services.actors import Actor

logger = logging.getLogger(__name__)


class AlertInvalid(Exception):
    """The alert breaks a rule; ``errors`` by field, as ``alerts.validation`` gives them."""

    def __init__(self, errors: Errors):
        super().__init__(errors)
        self.errors = errors


class AlertNotFound(Exception):
    pass


class AlertEnded(Exception):
    """The alert was ended: it is kept as it was (create a new one instead)."""


def alert_create(*, actor: Actor, data: AlertInput) -> ServiceAlert:
    """Check and store a new alert; notify and queue a feed build on commit."""
    _require_dispatcher(actor)
    data = _checked(data)
    with transaction.atomic():
        alert = ServiceAlert.objects.create(
            cause=data.cause,
            effect=data.effect,
            severity=data.severity,
            created_by_id=actor.user_id,
        )
        _write_parts(alert, data)
        return _announced(alert.pk, "created")


def alert_update(*, actor: Actor, alert_id: int, data: AlertInput) -> ServiceAlert:
    """Replace the content of an alert not ended; notify and queue a feed build on commit."""
    _require_dispatcher(actor)
    data = _checked(data)
    with transaction.atomic():
        alert = _locked(alert_id)
        if alert.ended_at is not None:
            raise AlertEnded(f"alert {alert_id} was ended at {alert.ended_at.isoformat()}")
        alert.cause, alert.effect, alert.severity = data.cause, data.effect, data.severity
        alert.save(update_fields=["cause", "effect", "severity", "updated_at"])
        for part in selectors.PARTS:
            getattr(alert, part).all().delete()
        _write_parts(alert, data)
        return _announced(alert.pk, "updated")


def alert_end(*, actor: Actor, alert_id: int) -> ServiceAlert:
    """End an alert now (it leaves the feed); an alert already ended stays as it is."""
    _require_dispatcher(actor)
    with transaction.atomic():
        alert = _locked(alert_id)
        if alert.ended_at is not None:
            return selectors.alert_get(alert_id=alert_id)
        alert.ended_at = timezone.now()
        alert.ended_by_id = actor.user_id
        alert.save(update_fields=["ended_at", "ended_by", "updated_at"])
        return _announced(alert.pk, "ended")


def _require_dispatcher(actor: Actor) -> None:
    if actor.role is not ActorRole.DISPATCHER:
        raise PermissionError(f"only a dispatcher may change service alerts, not {actor.role}")


def _checked(data: AlertInput) -> AlertInput:
    """``data`` to whole seconds (GTFS-RT's unit), if it breaks no rule."""
    data = dataclasses.replace(
        data,
        active_periods=tuple(
            ActivePeriod(_whole_second(p.start), _whole_second(p.end)) for p in data.active_periods
        ),
    )
    errors = alert_problems(data, schedule_refs_read(data.informed_entities))
    if errors:
        raise AlertInvalid(errors)
    return data


def _whole_second(moment: dt.datetime | None) -> dt.datetime | None:
    return None if moment is None else moment.replace(microsecond=0)


def _locked(alert_id: int) -> ServiceAlert:
    alert = ServiceAlert.objects.select_for_update().filter(pk=alert_id).first()
    if alert is None:
        raise AlertNotFound(alert_id)
    return alert


def _write_parts(alert: ServiceAlert, data: AlertInput) -> None:
    AlertActivePeriod.objects.bulk_create(
        AlertActivePeriod(alert=alert, start=p.start, end=p.end) for p in data.active_periods
    )
    AlertInformedEntity.objects.bulk_create(
        AlertInformedEntity(alert=alert, **dataclasses.asdict(e)) for e in data.informed_entities
    )
    AlertTranslation.objects.bulk_create(
        AlertTranslation(alert=alert, field=field.value, language=t.language, text=t.text)
        for field in TextField
        for t in data.texts(field)
    )


def _announced(alert_id: int, action: str) -> ServiceAlert:
    """The alert as stored, its notification and a feed build queued for the commit."""
    alert = selectors.alert_get(alert_id=alert_id)
    change = selectors.alert_summary(alert, action)
    transaction.on_commit(lambda: notify.alert_changed(change))
    transaction.on_commit(_feed_build_queue)
    return alert


def _feed_build_queue() -> None:
    try:
        alerts_feed_build.delay()
    except OperationalError as error:
        # Committed all the same; beat's next build (FEED_BUILD_INTERVAL_S) publishes it.
        logger.warning("alerts: feed build not queued (%s); beat's next build publishes", error)
