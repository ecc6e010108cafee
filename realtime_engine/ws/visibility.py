"""Which live topics an actor may watch: the decision behind a ``/ws/live/`` subscribe.

- Dispatchers (superusers dispatch) watch every topic.
- An operator watches what concerns their own runs: ``run:{id}`` of a run they operate
  (in any state: a driver looks back at the trip just finished), and ``vehicle:{id}``
  only while a run they operate claims that vehicle (``CLAIMING_STATES``): once the
  run ends, the vehicle is someone else's next trip. ``all`` and ``route:{id}`` carry
  every operator's runs and are dispatcher-only.
- ``alerts`` (the active service alerts, public information riders get from the Alerts
  feed anyway) is for every role.
- A user with no role watches nothing.

The shell (``topic_operators``) reads who operates what a topic refers to, only when
``operators_needed`` says the answer depends on it. Pure: imports no Django, Redis or
Channels (an import-linter contract).
"""

from __future__ import annotations

from collections.abc import Set

from realtime_engine.ws.groups import Topic, TopicKind
from runs.domain.lifecycle.roles import ActorRole
from runs.services.actors import Actor

# The topics an operator may watch, when their run is what the topic refers to.
OPERATOR_TOPIC_KINDS = frozenset({TopicKind.RUN, TopicKind.VEHICLE})
# The topics of public information, for every role.
PUBLIC_TOPIC_KINDS = frozenset({TopicKind.ALERTS})
# The roles a live connection has (``consumer`` closes one without them at connect).
LIVE_ROLES = frozenset({ActorRole.DISPATCHER, ActorRole.OPERATOR})


def operators_needed(actor: Actor | None, topic: Topic) -> bool:
    """Whether ``topic_visible`` needs the operators of the topic's run(s) for this actor."""
    return (
        actor is not None
        and actor.role is ActorRole.OPERATOR
        and topic.kind in OPERATOR_TOPIC_KINDS
    )


def topic_visible(actor: Actor | None, topic: Topic, operated_by: Set[int] = frozenset()) -> bool:
    """May ``actor`` watch ``topic``?

    ``operated_by``: the operator ids of the run a ``run:`` topic names, or of the runs
    claiming a ``vehicle:`` topic's vehicle (read only when ``operators_needed``).
    """
    if actor is None or actor.role not in LIVE_ROLES:
        return False
    if actor.role is ActorRole.DISPATCHER or topic.kind in PUBLIC_TOPIC_KINDS:
        return True
    if actor.role is ActorRole.OPERATOR and topic.kind in OPERATOR_TOPIC_KINDS:
        return any(actor.operates(operator_id) for operator_id in operated_by)
    return False
