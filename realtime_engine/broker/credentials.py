"""Vehicles' broker accounts in the database, and the broker files written from them.

``vehicle_credential_rotate`` issues a vehicle a new secret (its first one, or a
replacement) and stores only its hash; ``vehicle_credential_revoke`` removes the
account; ``broker_files_write`` writes the password and ACL files from every stored
account plus the service account. The database is the source of truth: the files
can be written again at any time. Used by ``manage.py broker_credentials``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from django.db import connection, transaction
from django.utils import timezone

from realtime_engine.broker.acl import acl_file_text
from realtime_engine.broker.files import write_private_file
from realtime_engine.broker.passwords import generate_secret, hash_password, password_file_text
from realtime_engine.models import BrokerCredential
from runs.domain.telemetry.limits import VEHICLE_ID_RULE, is_valid_vehicle_id
from runs.models import Vehicle

# Serialises file writers (one key per database, like migrate's): each writer reads the
# accounts only once it holds the lock, so the last to write has seen every commit
# before it, and two rotations at once cannot leave the files without one of them.
FILES_LOCK_KEY = int.from_bytes(b"dbbroker", "big", signed=True)


class BrokerCredentialError(ValueError):
    """A request the broker accounts cannot satisfy (unknown vehicle, bad id, clash)."""


@dataclass(frozen=True)
class ServiceAccount:
    """The servers' broker account (the user in ``MQTT_URL``); its password comes from the
    environment and is hashed afresh each time the files are written."""

    username: str
    password: str


@dataclass(frozen=True)
class BrokerFiles:
    password_file: Path
    acl_file: Path
    owner: tuple[int, int] | None = None  # (uid, gid) of the broker's account


@dataclass(frozen=True)
class WrittenFiles:
    vehicles: list[str]  # the vehicle accounts written
    skipped: list[str]  # stored accounts whose id is no longer a valid vehicle id


def vehicle_credential_rotate(*, vehicle_id: str) -> str:
    """Give ``vehicle_id`` a new secret and return it: it is stored nowhere, only its hash."""
    if not is_valid_vehicle_id(vehicle_id):
        raise BrokerCredentialError(f"vehicle id {vehicle_id[:80]!r}: must be {VEHICLE_ID_RULE}")
    secret = generate_secret()
    with transaction.atomic():
        vehicle = Vehicle.objects.select_for_update().filter(pk=vehicle_id).first()
        if vehicle is None:
            raise BrokerCredentialError(f"no vehicle {vehicle_id!r}")
        BrokerCredential.objects.update_or_create(
            vehicle=vehicle,
            defaults={"password_hash": hash_password(secret), "rotated_at": timezone.now()},
        )
    return secret


def vehicle_credential_revoke(*, vehicle_id: str) -> bool:
    """Remove the vehicle's account; False if it had none."""
    deleted, _ = BrokerCredential.objects.filter(vehicle_id=vehicle_id).delete()
    return deleted > 0


def broker_files_write(*, files: BrokerFiles, service: ServiceAccount, root: str) -> WrittenFiles:
    """Write the ACL file, then the password file, from every stored account."""
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [FILES_LOCK_KEY])
        stored = sorted(BrokerCredential.objects.values_list("vehicle_id", "password_hash"))
        accounts = [(vid, encoded) for vid, encoded in stored if is_valid_vehicle_id(vid)]
        skipped = [vid for vid, _ in stored if not is_valid_vehicle_id(vid)]
        vehicles = [vid for vid, _ in accounts]
        try:
            acl = acl_file_text(root=root, service_username=service.username, vehicle_ids=vehicles)
            passwords = password_file_text(
                [(service.username, hash_password(service.password)), *accounts]
            )
        except ValueError as error:
            raise BrokerCredentialError(str(error)) from None
        # A SIGHUP between the two renames pairs one file's old version with the other's
        # new one: safe either way, since what the ACL does not grant is denied.
        write_private_file(files.acl_file, acl, owner=files.owner)
        write_private_file(files.password_file, passwords, owner=files.owner)
    return WrittenFiles(vehicles=vehicles, skipped=skipped)
