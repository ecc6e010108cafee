"""Who acts on a run. Humans get their role from their Django groups; detectors act as SYSTEM."""

from __future__ import annotations

from enum import StrEnum


class ActorRole(StrEnum):
    SYSTEM = "system"
    DISPATCHER = "dispatcher"
    OPERATOR = "operator"
