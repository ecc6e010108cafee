"""Trackers map to vehicles through the vehicle registry: the IMEIs come with the ids in
the same load, a miss reloads at most once per interval, and ``AnyVehicle`` takes an
unmapped device's IMEI as its vehicle id. The loader and clock are fakes, as in
``realtime_engine/tests/test_ingest_vehicle_registry.py``; the real load is checked last.
Every test may touch the database: a reload first drops unusable Django connections, and
pytest-django, running database tests first, may have left one open."""

from __future__ import annotations

import pytest

from realtime_engine.ingest.vehicle_registry import AnyVehicle, VehicleRegistry
from realtime_engine.tests.test_ingest_vehicle_registry import (  # the same fakes
    MISS_S,
    REFRESH_S,
    Clock,
    Fleet,
    registry,
)
from runs.models import Vehicle
from runs.selectors import vehicle_admission_get

pytestmark = pytest.mark.django_db

IMEI_1 = "356307042441013"
IMEI_NEW = "356307042441021"


class TrackedFleet(Fleet):
    """The vehicles table with trackers: {vehicle id: IMEI or None}, as the real load."""

    def __init__(self, vehicles: dict[str, str | None]) -> None:
        super().__init__(*vehicles)
        self.vehicles = dict(vehicles)

    def load(self) -> dict[str, str | None]:
        super().load()  # counts the query, fails while down
        return dict(self.vehicles)


@pytest.fixture
def clock() -> Clock:
    return Clock()


def test_a_tracker_maps_to_its_vehicle_from_the_same_load_as_the_ids(clock):
    fleet = TrackedFleet({"bus-1": IMEI_1, "bus-2": None})
    vehicles = registry(fleet, clock)
    vehicles.refresh_if_due()
    for _ in range(100):
        assert vehicles.vehicle_of_device(IMEI_1) == "bus-1"
    assert "bus-1" in vehicles and "bus-2" in vehicles
    assert fleet.queries == 1
    assert vehicles.vehicle_of_device("bus-2") is None  # a vehicle id is not a tracker


def test_an_unknown_device_reloads_at_most_once_per_miss_interval(clock):
    fleet = TrackedFleet({"bus-1": IMEI_1})
    vehicles = registry(fleet, clock)
    vehicles.refresh_if_due()
    clock.now += MISS_S
    for _ in range(1000):  # a flood of unknown trackers: one reload
        assert vehicles.vehicle_of_device(IMEI_NEW) is None
    assert fleet.queries == 2

    fleet.vehicles["bus-new"] = IMEI_NEW  # the tracker is fitted now
    assert vehicles.vehicle_of_device(IMEI_NEW) is None  # within the interval
    clock.now += MISS_S
    assert vehicles.vehicle_of_device(IMEI_NEW) == "bus-new"
    assert "bus-new" in vehicles and fleet.queries == 3


def test_a_moved_tracker_follows_its_vehicle_on_the_next_refresh(clock):
    fleet = TrackedFleet({"bus-1": IMEI_1, "bus-2": None})
    vehicles = registry(fleet, clock)
    vehicles.refresh_if_due()
    fleet.vehicles.update({"bus-1": None, "bus-2": IMEI_1})
    clock.now += REFRESH_S
    vehicles.refresh_if_due()
    assert vehicles.vehicle_of_device(IMEI_1) == "bus-2"


def test_the_last_mapping_stays_in_use_while_the_database_is_down(clock):
    fleet = TrackedFleet({"bus-1": IMEI_1})
    vehicles = registry(fleet, clock)
    vehicles.refresh_if_due()
    fleet.down = True
    clock.now += REFRESH_S
    vehicles.refresh_if_due()
    assert vehicles.vehicle_of_device(IMEI_1) == "bus-1"
    assert vehicles.vehicle_of_device(IMEI_NEW) is None
    assert fleet.queries == 2  # the miss waits for the retry, like the ids


def test_an_ids_only_load_maps_no_device(clock):
    vehicles = VehicleRegistry(refresh_s=REFRESH_S, load=lambda: {"bus-1"}, clock=clock)
    vehicles.refresh_if_due()
    assert "bus-1" in vehicles and vehicles.vehicle_of_device(IMEI_1) is None


def test_allowing_unknown_vehicles_takes_an_unmapped_imei_as_the_vehicle_id(clock):
    fleet = TrackedFleet({"bus-1": IMEI_1})
    vehicles = AnyVehicle(registry(fleet, clock))
    vehicles.refresh_if_due()
    assert fleet.queries == 0  # an MQTT-only worker never loads the trackers
    assert vehicles.vehicle_of_device(IMEI_1) == "bus-1"
    assert vehicles.vehicle_of_device(IMEI_NEW) == IMEI_NEW
    assert IMEI_NEW in vehicles


def test_allowing_unknown_vehicles_while_the_database_is_down_still_admits_the_device(clock):
    fleet = TrackedFleet({"bus-1": IMEI_1})
    fleet.down = True
    vehicles = AnyVehicle(registry(fleet, clock))
    assert vehicles.vehicle_of_device(IMEI_1) == IMEI_1
    assert AnyVehicle().vehicle_of_device(IMEI_1) == IMEI_1


def test_the_admission_load_is_one_query_of_ids_and_imeis(django_assert_num_queries):
    Vehicle.objects.create(id="bus-1", tracker_imei=IMEI_1)
    Vehicle.objects.create(id="bus-2")
    with django_assert_num_queries(1):
        fleet = vehicle_admission_get()
    assert fleet == {"bus-1": IMEI_1, "bus-2": None}
    vehicles = VehicleRegistry(refresh_s=30.0, load=lambda: fleet)
    vehicles.refresh_if_due()
    assert vehicles.vehicle_of_device(IMEI_1) == "bus-1" and "bus-2" in vehicles
