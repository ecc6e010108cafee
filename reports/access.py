"""Who reads reports: dispatchers (and superusers), and planners.

Roles come from the user's Django groups, never from a request: dispatchers as
``runs.services.actors`` says, planners by the ``planner`` group. An operator reads no
report (a report spans every operator's runs). Used by the REST endpoints
(``reports.api.CanReadReports``) and the pages.
"""

from __future__ import annotations

from runs.domain.lifecycle.roles import ActorRole
from runs.services.actors import actor_for_user

PLANNER_GROUP = "planner"


def can_read_reports(user) -> bool:
    if user is None or not user.is_authenticated:
        return False
    actor = actor_for_user(user)
    if actor is not None and actor.role is ActorRole.DISPATCHER:
        return True
    return user.groups.filter(name=PLANNER_GROUP).exists()
