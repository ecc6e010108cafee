"""Register vehicles as an agency does before they publish: ingest trusts registered ones only.

Used by tests, benchmarks and the chaos harness whose telemetry comes from vehicles made up
on the spot (``realtime_engine.ingest.vehicle_registry``). Needs Django set up.
"""

from __future__ import annotations

from collections.abc import Iterable

from runs.models import Vehicle


def register_vehicles(vehicle_ids: Iterable[str]) -> None:
    """A row in the vehicles table for each id (ids already registered are left alone)."""
    Vehicle.objects.bulk_create(
        [Vehicle(id=vehicle_id) for vehicle_id in vehicle_ids],
        ignore_conflicts=True,
        batch_size=1000,
    )
