"""Who operates what a ``run:`` or ``vehicle:`` topic refers to: the database side of
``visibility``.

A run topic's operator is its run's; a vehicle topic's are those of the runs that claim the
vehicle now (``CLAIMING_STATES``; the database allows one). Read on subscribe and on the
heartbeat's re-check of an operator's topics, never per live message: one query per kind
of topic asked about. Synchronous (the consumer calls it through ``database_sync_to_async``).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable

from realtime_engine.ws.groups import Topic, TopicKind
from runs.domain.lifecycle.states import CLAIMING_STATES
from runs.models import Run

_CLAIMING_VALUES = sorted(state.value for state in CLAIMING_STATES)


def _run_pk(ident: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(ident)
    except ValueError:  # not a run id: no run, no operator
        return None


def topic_operators_read(topics: Iterable[Topic]) -> dict[Topic, frozenset[int]]:
    """Each ``run:`` / ``vehicle:`` topic → the operator ids of its run(s); others are left out."""
    topics = list(topics)
    run_pks = {t: _run_pk(t.ident) for t in topics if t.kind is TopicKind.RUN}
    vehicle_ids = {t.ident for t in topics if t.kind is TopicKind.VEHICLE}
    run_operators: dict[uuid.UUID, set[int]] = {}
    vehicle_operators: dict[str, set[int]] = {}
    if wanted := {pk for pk in run_pks.values() if pk is not None}:
        runs = Run.objects.filter(pk__in=wanted, operator__isnull=False)
        for pk, operator_id in runs.values_list("pk", "operator_id"):
            run_operators.setdefault(pk, set()).add(operator_id)
    if vehicle_ids:
        claims = Run.objects.filter(
            vehicle_id__in=vehicle_ids,
            run_lifecycle_state__in=_CLAIMING_VALUES,
            operator__isnull=False,
        ).values_list("vehicle_id", "operator_id")
        for vehicle_id, operator_id in claims:
            vehicle_operators.setdefault(vehicle_id, set()).add(operator_id)
    operators: dict[Topic, frozenset[int]] = {}
    for topic in topics:
        if topic.kind is TopicKind.RUN:
            operators[topic] = frozenset(run_operators.get(run_pks[topic], ()))
        elif topic.kind is TopicKind.VEHICLE:
            operators[topic] = frozenset(vehicle_operators.get(topic.ident, ()))
    return operators
