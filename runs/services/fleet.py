"""The fleet's durable records: companies, vehicles, their operators and the dispatchers.

The services through which the simulator and the AVL replay create (or find again) the
people and vehicles their runs need; the admin writes the same tables as plain CRUD.
Each function is idempotent (get or create, keyed by a name, an id or a username), so a
second session reuses what a first one made. A user created here has no usable
password: these accounts act through the services, nobody signs in as them. The role
of a user is its Django group (``runs.services.actors``). A simulated or replayed
vehicle without a tracker gets one whose IMEI is derived from its id
(``vehicle_tracker_imei_ensure``), so that it can publish through an AVL gateway's
stream too, under the same IMEI in every session.
"""

from __future__ import annotations

import hashlib

from django.contrib.auth.models import Group, User

from runs.models import Company, Operator, Vehicle
from runs.services.actors import DISPATCHER_GROUP, OPERATOR_GROUP


def company_register(*, name: str) -> Company:
    """The company called ``name``, created if missing."""
    company, _ = Company.objects.get_or_create(name=name)
    return company


def vehicle_register(
    *,
    vehicle_id: str,
    company: Company,
    label: str,
    license_plate: str | None = None,
    wheelchair_accessible: bool | None = None,
) -> Vehicle:
    """The vehicle ``vehicle_id`` of ``company``, created or updated; a field given as
    ``None`` keeps what the vehicle already has (a real bus replayed keeps its plate)."""
    fields = {"company": company, "label": label}
    if license_plate is not None:
        fields["license_plate"] = license_plate
    if wheelchair_accessible is not None:
        fields["wheelchair_accessible"] = wheelchair_accessible
    vehicle, _ = Vehicle.objects.update_or_create(id=vehicle_id, defaults=fields)
    return vehicle


# Reporting-body prefix "00" of a type allocation code: IMEIs kept for test equipment, never
# a real tracker's.
TEST_IMEI_PREFIX = "00"
IMEI_DIGITS = 15


def luhn_check_digit(digits: str) -> str:
    """The digit that completes ``digits`` to a valid Luhn number (an IMEI's 15th)."""
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = int(char) * (2 if position % 2 == 0 else 1)
        total += value - 9 if value > 9 else value
    return str(-total % 10)


def derived_tracker_imei(vehicle_id: str) -> str:
    """A test IMEI (15 digits, Luhn-valid) that is a function of ``vehicle_id`` alone."""
    body_digits = IMEI_DIGITS - len(TEST_IMEI_PREFIX) - 1
    number = int.from_bytes(hashlib.sha256(vehicle_id.encode()).digest()[:8], "big")
    body = TEST_IMEI_PREFIX + f"{number % 10**body_digits:0{body_digits}d}"
    return body + luhn_check_digit(body)


def vehicle_tracker_imei_ensure(vehicle: Vehicle) -> str:
    """The vehicle's tracker IMEI; one derived from its id is given (and saved) when it has
    none, a real bus replayed keeps its own."""
    if not vehicle.tracker_imei:
        vehicle.tracker_imei = derived_tracker_imei(vehicle.pk)
        vehicle.save(update_fields=["tracker_imei"])
    return vehicle.tracker_imei


def _user_in_group(username: str, group_name: str, **names: str) -> User:
    """The user ``username`` (created without a usable password), a member of the group."""
    user, created = User.objects.get_or_create(username=username, defaults=names)
    if created:
        user.set_unusable_password()
        user.save(update_fields=["password"])
    user.groups.add(Group.objects.get_or_create(name=group_name)[0])
    return user


def operator_register(*, username: str, company: Company, badge: str = "") -> Operator:
    """The driver ``username`` (a user in the operator group) working for ``company``;
    an existing operator keeps its company and badge."""
    user = _user_in_group(username, OPERATOR_GROUP)
    operator, _ = Operator.objects.get_or_create(
        user=user, defaults={"company": company, "badge": badge}
    )
    return operator


def dispatcher_register(*, username: str, first_name: str = "", last_name: str = "") -> User:
    """The user ``username`` in the dispatcher group (names set only when it is created)."""
    return _user_in_group(username, DISPATCHER_GROUP, first_name=first_name, last_name=last_name)
