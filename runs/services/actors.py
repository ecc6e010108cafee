"""Who is acting: the role comes from the user's Django groups, never from a request body.

``SYSTEM`` is the actor of detectors and scans.
"""

from __future__ import annotations

from dataclasses import dataclass

from runs.domain.lifecycle.roles import ActorRole

DISPATCHER_GROUP = "dispatcher"
OPERATOR_GROUP = "operator"


@dataclass(frozen=True, slots=True)
class Actor:
    role: ActorRole
    user_id: int | None = None
    operator_id: int | None = None  # set when the user is an operator

    def operates(self, run_operator_id: int | None) -> bool:
        return self.operator_id is not None and self.operator_id == run_operator_id


SYSTEM = Actor(ActorRole.SYSTEM)


def actor_for_user(user) -> Actor | None:
    """The user's role (dispatcher before operator; superusers dispatch); ``None`` if none."""
    if user is None or not user.is_authenticated:
        return None
    groups = set(user.groups.values_list("name", flat=True))
    operator = getattr(user, "operator", None)
    operator_id = operator.pk if operator is not None else None
    if user.is_superuser or DISPATCHER_GROUP in groups:
        return Actor(ActorRole.DISPATCHER, user.pk, operator_id)
    if OPERATOR_GROUP in groups:
        return Actor(ActorRole.OPERATOR, user.pk, operator_id)
    return None
