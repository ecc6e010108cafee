"""Which part of a build an entity falls in, when a build is split across processes. Pure.

A vehicle's VehiclePositions entity and a run's TripUpdates entity (with its block's next
trip) each belong to one of ``count`` shards, by the hash of their id. ``hash`` of a
``str`` differs between interpreters but not between a process and the children it
forks (``forking``), which is the only place shards are compared.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Shard:
    index: int
    count: int

    def holds(self, entity_id: str) -> bool:
        return hash(entity_id) % self.count == self.index

    @property
    def first(self) -> bool:
        """The shard that also decides what belongs to no vehicle or run (the dispatchers'
        operations)."""
        return self.index == 0
