"""``manage.py broker_credentials [write|rotate|revoke]``: the broker's accounts and ACL.

- ``write`` (the default) writes the password file and the ACL file: one account per
  vehicle that has a credential, plus the service account, whose username and
  password are those in ``MQTT_URL`` (the account the servers connect with).
- ``rotate --vehicle ID`` (repeatable) issues each vehicle a new secret (its first one,
  or a replacement), prints ``ID<TAB>secret`` on stdout, once, then writes the files.
- ``revoke --vehicle ID`` removes accounts, then writes the files.

The broker rereads both files on SIGHUP (``docker compose kill -s HUP mosquitto``);
until then the old secrets work. docs/operations.md, "Broker credentials and TLS".
"""

from __future__ import annotations

import argparse
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from realtime_engine.broker.acl import check_apart
from realtime_engine.broker.credentials import (
    BrokerCredentialError,
    BrokerFiles,
    ServiceAccount,
    broker_files_write,
    vehicle_credential_revoke,
    vehicle_credential_rotate,
)
from runs.models import Vehicle

DEFAULT_DIRECTORY = Path(settings.BASE_DIR) / "deploy" / "mosquitto"
RELOAD_HINT = "reload the broker: docker compose -f compose.prod.yml kill -s HUP mosquitto"


class Command(BaseCommand):
    help = "Write the broker's password and ACL files; rotate or revoke a vehicle's secret."

    def add_arguments(self, parser) -> None:
        parser.add_argument("action", nargs="?", choices=["write", "rotate", "revoke"])
        parser.add_argument(
            "--vehicle", action="append", default=[], help="a vehicle id (rotate, revoke)"
        )
        parser.add_argument("--password-file", type=Path, default=DEFAULT_DIRECTORY / "passwd")
        parser.add_argument("--acl-file", type=Path, default=DEFAULT_DIRECTORY / "acl")
        parser.add_argument(
            "--owner",
            type=_owner,
            help="UID:GID to own the files (the broker's account, 1883:1883 in the "
            "eclipse-mosquitto image; needs root)",
        )

    def handle(self, *args, action: str | None, vehicle: list[str], **options) -> None:
        action = action or "write"
        if action == "write" and vehicle:
            raise CommandError("write takes no --vehicle (did you mean rotate?)")
        if action != "write" and not vehicle:
            raise CommandError(f"{action} needs --vehicle ID")
        files = BrokerFiles(options["password_file"], options["acl_file"], options["owner"])
        service = _service_account()
        try:
            if action == "rotate":
                self._rotate(vehicle, service)
            elif action == "revoke":
                for vehicle_id in vehicle:
                    if not vehicle_credential_revoke(vehicle_id=vehicle_id):
                        self._note(f"{vehicle_id} had no broker account")
            self._write(files, service, issued=action == "rotate")
        except BrokerCredentialError as error:
            raise CommandError(str(error)) from None

    def _rotate(self, vehicle_ids: list[str], service: ServiceAccount) -> None:
        """Checks every id first: a secret issued is printed, and the files must be written."""
        known = set(Vehicle.objects.filter(pk__in=vehicle_ids).values_list("pk", flat=True))
        missing = [vehicle_id for vehicle_id in vehicle_ids if vehicle_id not in known]
        if missing:
            raise CommandError(f"no vehicle {', '.join(missing)}")
        try:
            check_apart(service.username, vehicle_ids)
        except ValueError as error:
            raise CommandError(str(error)) from None
        for vehicle_id in dict.fromkeys(vehicle_ids):
            self.stdout.write(f"{vehicle_id}\t{vehicle_credential_rotate(vehicle_id=vehicle_id)}")

    def _write(self, files: BrokerFiles, service: ServiceAccount, *, issued: bool) -> None:
        try:
            written = broker_files_write(
                files=files, service=service, root=settings.MQTT_TOPIC_ROOT
            )
        except OSError as error:
            stored = " The secrets above are stored: write the files again once fixed."
            raise CommandError(
                f"could not write the broker files: {error}.{stored if issued else ''}"
            ) from None
        for vehicle_id in written.skipped:
            self._note(f"left out {vehicle_id!r}: no longer a valid vehicle id (revoke it)")
        self._note(
            f"wrote {len(written.vehicles)} vehicle account(s) and the service account "
            f"{service.username!r} to {files.password_file} and {files.acl_file}; {RELOAD_HINT}"
        )

    def _note(self, text: str) -> None:
        """On stderr, so that stdout holds only the secrets ``rotate`` issues."""
        self.stderr.write(text, style_func=lambda message: message)


def _service_account() -> ServiceAccount:
    address = settings.MQTT_ADDRESS
    if not (address.username and address.password):
        raise CommandError(
            "MQTT_URL has no username and password: the servers' broker account is the "
            "one in it (mqtt://USER:PASSWORD@host:1883)"
        )
    return ServiceAccount(address.username, address.password)


def _owner(text: str) -> tuple[int, int]:
    uid, _, gid = text.partition(":")
    if not (uid.isdigit() and gid.isdigit()):
        raise argparse.ArgumentTypeError(f"{text!r} is not a numeric UID:GID")
    return int(uid), int(gid)
