"""This process's copy of the entity caches, good while no other process has built since.

The caches in Redis (``entity_cache``) are the truth every worker shares. Reading them
back costs a build about as much as the rest of a quiet build (a national fleet's
TripUpdates are tens of megabytes of base64), and the process that wrote them last
already holds them: each write stores a new ``generation`` in the caches' meta, and
the copy here, kept with the generation it matches, is used instead of a read when the
meta still names it. Beside the records it keeps each published vehicle's decoded
entity and the claim it was assembled with, so that a vehicle that only reported a new
fix is refreshed from its position without reading or decoding its run again
(``changes.changed_records_read``).

Celery runs one build at a time in a process (and ``keys.FEED_BUILD_LOCK`` one at a
time in the deployment), so the copy is a plain module-level value.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from schedule_engine.feeds.entity_cache import CachedEntity
from schedule_engine.feeds.snapshots import VehicleEntity
from schedule_engine.feeds.store import HOT_STATE_FEEDS, FeedName


@dataclass(frozen=True, slots=True)
class PublishedVehicle:
    entity: VehicleEntity  # as encoded (after the schedule agreement)
    claim: str | None  # vehicle:{vid}:current_run when it was assembled


@dataclass(slots=True)
class Mirror:
    generation: str = ""
    entities: dict[FeedName, dict[str, CachedEntity]] = field(
        default_factory=lambda: {name: {} for name in HOT_STATE_FEEDS}
    )
    vehicles: dict[str, PublishedVehicle] = field(default_factory=dict)


_mirror = Mirror()


def mirror_get(generation: str) -> Mirror | None:
    """The copy, if it is of the caches as ``generation`` names them."""
    return _mirror if generation and _mirror.generation == generation else None


def mirror_set(
    generation: str,
    entities: Mapping[FeedName, dict[str, CachedEntity]],
    vehicles: dict[str, PublishedVehicle],
) -> None:
    """What this process just wrote, as ``generation``."""
    global _mirror
    _mirror = Mirror(generation, dict(entities), vehicles)


def mirror_forget() -> None:
    """As a fresh process (tests: another worker's build)."""
    global _mirror
    _mirror = Mirror()
