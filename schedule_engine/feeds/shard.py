"""Which part of a build an entity falls in, when a build is split across processes. Pure.

A vehicle's VehiclePositions entity belongs to one of ``count`` shards by the hash of its
id; a run's TripUpdates entity (with its block's next trip) to its vehicle's shard (the
located vehicle claiming it, ``run_claimants``; a run without one by its own id), so that
a shard mostly reads what it publishes. ``hash`` of a ``str`` differs between
interpreters but not between a process and the children it forks (``forking``), which
is the only place shards are compared.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Shard:
    index: int
    count: int
    run_claimants: Mapping[str, str] = field(default_factory=dict)

    def holds_vehicle(self, vehicle_id: str) -> bool:
        return hash(vehicle_id) % self.count == self.index

    def holds_run(self, run_id: str) -> bool:
        return self.holds_vehicle(self.run_claimants.get(run_id) or run_id)

    @property
    def first(self) -> bool:
        """The shard that also decides what belongs to no vehicle or run (the dispatchers'
        operations)."""
        return self.index == 0
