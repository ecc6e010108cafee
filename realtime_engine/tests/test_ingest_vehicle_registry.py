"""The vehicle registry's schedule of queries: one per refresh, at most one per miss interval,
and the last ids kept while the database cannot be read. The loader and clock are fakes;
``test_ingest_trust.py`` drives the real one through the broker and PostgreSQL."""

from __future__ import annotations

import pytest
from django.db import OperationalError

from databus.db_health import RETRY_AFTER_S
from realtime_engine.ingest.vehicle_registry import (
    AnyVehicle,
    VehicleRegistry,
    VehicleRegistryUnavailable,
)

# The loader is fake, but a reload heals Django's connections first: a connection an
# earlier test left open is checked, which needs database access.
pytestmark = pytest.mark.django_db

REFRESH_S = 30.0
MISS_S = 1.0


class Fleet:
    """A vehicles table that counts its queries and can be made unreadable."""

    def __init__(self, *ids: str) -> None:
        self.ids = set(ids)
        self.queries = 0
        self.down = False

    def load(self) -> set[str]:
        self.queries += 1
        if self.down:
            raise OperationalError("connection refused")
        return set(self.ids)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


def registry(fleet: Fleet, clock: Clock) -> VehicleRegistry:
    return VehicleRegistry(refresh_s=REFRESH_S, load=fleet.load, miss_refresh_s=MISS_S, clock=clock)


def test_known_ids_cost_no_query_and_the_registry_reloads_on_its_timer(clock):
    fleet = Fleet("bus-1", "bus-2")
    vehicles = registry(fleet, clock)
    vehicles.refresh_if_due()
    for _ in range(1000):
        assert "bus-1" in vehicles and "bus-2" in vehicles
    assert fleet.queries == 1

    clock.now += REFRESH_S - 1
    vehicles.refresh_if_due()
    assert fleet.queries == 1
    fleet.ids.discard("bus-2")
    clock.now += 1
    vehicles.refresh_if_due()
    assert fleet.queries == 2
    assert "bus-2" not in vehicles  # just reloaded: the miss makes no query of its own
    assert fleet.queries == 2


def test_an_unknown_id_reloads_at_most_once_per_miss_interval(clock):
    fleet = Fleet("bus-1")
    vehicles = registry(fleet, clock)
    vehicles.refresh_if_due()
    clock.now += MISS_S
    assert "stranger" not in vehicles  # one reload, still unknown
    for _ in range(1000):  # a flood of unknown ids within the interval: no query
        assert "stranger" not in vehicles and "other" not in vehicles
    assert fleet.queries == 2

    fleet.ids.add("bus-new")  # registered now
    assert "bus-new" not in vehicles  # within the interval of the last reload
    clock.now += MISS_S
    assert "bus-new" in vehicles  # a second later the miss reloads and finds it
    assert fleet.queries == 3
    assert "bus-new" in vehicles and fleet.queries == 3


def test_the_last_ids_stay_in_use_while_the_database_is_down(clock):
    fleet = Fleet("bus-1")
    vehicles = registry(fleet, clock)
    vehicles.refresh_if_due()
    fleet.down = True
    clock.now += REFRESH_S
    vehicles.refresh_if_due()  # fails: keeps what it had
    assert fleet.queries == 2
    assert "bus-1" in vehicles
    assert "stranger" not in vehicles  # and does not retry on a miss before RETRY_AFTER_S
    vehicles.refresh_if_due()
    assert fleet.queries == 2

    fleet.down = False
    fleet.ids.add("bus-2")
    clock.now += RETRY_AFTER_S
    vehicles.refresh_if_due()
    assert fleet.queries == 3 and "bus-2" in vehicles


def test_without_any_load_the_batch_cannot_be_judged(clock):
    fleet = Fleet("bus-1")
    fleet.down = True
    vehicles = registry(fleet, clock)
    with pytest.raises(VehicleRegistryUnavailable):
        vehicles.refresh_if_due()
    with pytest.raises(VehicleRegistryUnavailable):  # retried later, not on every batch
        vehicles.refresh_if_due()
    assert fleet.queries == 1
    fleet.down = False
    clock.now += RETRY_AFTER_S
    vehicles.refresh_if_due()
    assert "bus-1" in vehicles


def test_allowing_unknown_vehicles_admits_any_id():
    vehicles = AnyVehicle()
    vehicles.refresh_if_due()
    assert "anything-at-all" in vehicles
