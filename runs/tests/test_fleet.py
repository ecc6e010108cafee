"""The fleet services: each record is created once and found again, in its role's group."""

from __future__ import annotations

from runs.domain.lifecycle.roles import ActorRole
from runs.services.actors import actor_for_user
from runs.services.fleet import (
    company_register,
    dispatcher_register,
    operator_register,
    vehicle_register,
)


def test_a_second_registration_finds_the_first_records(db):
    company = company_register(name="Replay")
    operator = operator_register(username="driver-7", company=company, badge="B7")
    dispatcher = dispatcher_register(username="desk", first_name="Fleet", last_name="Desk")

    assert company_register(name="Replay") == company
    assert operator_register(username="driver-7", company=company_register(name="Other")) == (
        operator
    )
    operator.refresh_from_db()
    assert (operator.company, operator.badge) == (company, "B7")  # kept, not overwritten
    assert dispatcher_register(username="desk") == dispatcher
    assert actor_for_user(operator.user).role is ActorRole.OPERATOR
    assert actor_for_user(dispatcher).role is ActorRole.DISPATCHER
    assert (dispatcher.first_name, dispatcher.last_name) == ("Fleet", "Desk")
    assert not operator.user.has_usable_password() and not dispatcher.has_usable_password()


def test_a_vehicle_is_updated_and_keeps_the_fields_not_given(db):
    company = company_register(name="Replay")
    vehicle_register(
        vehicle_id="4582",
        company=company,
        label="old",
        license_plate="DC 4582",
        wheelchair_accessible=True,
    )

    vehicle = vehicle_register(vehicle_id="4582", company=company, label="4582")

    vehicle.refresh_from_db()
    assert (vehicle.label, vehicle.license_plate, vehicle.wheelchair_accessible) == (
        "4582",
        "DC 4582",
        True,
    )
