"""Who may watch which live topic: the pure decision, every role against every kind of topic."""

from __future__ import annotations

import pytest

from realtime_engine.ws.groups import parse_topic
from realtime_engine.ws.visibility import operators_needed, topic_visible
from runs.domain.lifecycle.roles import ActorRole
from runs.services.actors import SYSTEM, Actor

DISPATCHER = Actor(ActorRole.DISPATCHER, user_id=1)
OPERATOR = Actor(ActorRole.OPERATOR, user_id=2, operator_id=7)
# In the operator group without an Operator row: operates nothing.
OPERATOR_WITHOUT_DRIVER = Actor(ActorRole.OPERATOR, user_id=3)
MINE, THEIRS, NOBODYS = frozenset({7}), frozenset({8}), frozenset()


@pytest.mark.parametrize(
    ("actor", "topic", "operated_by", "visible"),
    [
        (DISPATCHER, "all", NOBODYS, True),
        (DISPATCHER, "route:R1", NOBODYS, True),
        (DISPATCHER, "run:r-1", THEIRS, True),
        (DISPATCHER, "vehicle:V1", NOBODYS, True),
        (OPERATOR, "run:r-1", MINE, True),
        (OPERATOR, "run:r-1", THEIRS, False),
        (OPERATOR, "run:r-1", NOBODYS, False),  # no such run, or nobody operates it
        (OPERATOR, "vehicle:V1", MINE, True),  # one of their runs claims the vehicle now
        (OPERATOR, "vehicle:V1", THEIRS, False),
        (OPERATOR, "vehicle:V1", NOBODYS, False),
        (OPERATOR, "all", MINE, False),
        (OPERATOR, "route:R1", MINE, False),
        (OPERATOR_WITHOUT_DRIVER, "run:r-1", MINE, False),
        # Service alerts are public information: every role watches them.
        (DISPATCHER, "alerts", NOBODYS, True),
        (OPERATOR, "alerts", NOBODYS, True),
        (OPERATOR_WITHOUT_DRIVER, "alerts", NOBODYS, True),
        (SYSTEM, "all", NOBODYS, False),
        (SYSTEM, "alerts", NOBODYS, False),
        (None, "all", NOBODYS, False),
        (None, "alerts", NOBODYS, False),
        (None, "run:r-1", MINE, False),
    ],
)
def test_topic_visibility(actor, topic, operated_by, visible):
    assert topic_visible(actor, parse_topic(topic), operated_by) is visible


@pytest.mark.parametrize(
    ("actor", "topic", "needed"),
    [
        (OPERATOR, "run:r-1", True),
        (OPERATOR, "vehicle:V1", True),
        (OPERATOR, "all", False),
        (OPERATOR, "route:R1", False),
        (OPERATOR, "alerts", False),
        (DISPATCHER, "run:r-1", False),  # a dispatcher's subscribe costs no query
        (None, "run:r-1", False),
    ],
)
def test_the_database_is_read_only_when_the_answer_depends_on_it(actor, topic, needed):
    assert operators_needed(actor, parse_topic(topic)) is needed
