"""Which vehicles ingest trusts: the registered vehicle ids, held in process memory.

Telemetry is accepted only from a vehicle with a row in ``runs.models.Vehicle``, unless
``INGEST_ALLOW_UNKNOWN_VEHICLES``; the check is ``plan_batch``'s (``batch.py``), so every
ingress makes it. The hot path makes no query per message: the ids are loaded with one
query (``runs.selectors.vehicle_ids_get``) and reloaded every
``INGEST_VEHICLE_REGISTRY_REFRESH_S``. An id not among them reloads them at most once per
``MISS_REFRESH_S`` before it is refused: a vehicle registered a moment ago is accepted
within about a second, while a flood of unknown ids costs at most one query a second.

When PostgreSQL cannot be read the last loaded ids stay in use, reloaded
``db_health.RETRY_AFTER_S`` later, like the other per-process caches. Before any load has
succeeded no message can be judged: ``refresh_if_due`` raises ``VehicleRegistryUnavailable``
and the ingress holds its batch, unacknowledged, and retries (refusing every vehicle would
dead-letter a whole fleet because of a database restart).

The same load brings each vehicle's tracker IMEI (``runs.selectors.vehicle_admission_get``):
``vehicle_of_device`` is the ``DeviceMap`` the Redis Streams ingress maps a record's
``device_id`` with, with the same miss reload. With ``INGEST_ALLOW_UNKNOWN_VEHICLES``
(``AnyVehicle``) a device no vehicle carries is taken as the vehicle of its own id (its
IMEI), as MQTT accepts an unregistered vehicle id; a registered tracker still maps to its
vehicle once the IMEIs could be loaded (``AnyVehicle`` loads them on its first device
look-up, so an MQTT-only worker makes no query).

One registry per ingress consumer, used from that consumer's thread only. An ingress calls
``refresh_if_due()`` once per batch, then hands the registry to ``plan_batch`` (and, for
Streams records, to ``receive_record`` as their ``DeviceMap``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Mapping
from typing import Protocol

from databus.db_health import DATABASE_UNAVAILABLE, RETRY_AFTER_S, Outage, heal_connections
from realtime_engine.ingest import metrics
from runs.selectors import vehicle_admission_get

# An unknown id reloads the registry at most this often: "registered a second ago" is
# accepted, and unknown ids cannot make ingest query PostgreSQL per message.
MISS_REFRESH_S = 1.0


class VehicleRegistryUnavailable(Exception):
    """No registry has been loaded yet and PostgreSQL cannot be read: hold the batch."""


class VehicleAdmission(Protocol):
    """What ``plan_batch`` asks: is this vehicle trusted? (``in``)."""

    def refresh_if_due(self) -> None: ...

    def __contains__(self, vehicle_id: object) -> bool: ...

    def vehicle_of_device(self, device_id: str) -> str | None: ...


# What a registry loads: vehicle ids, or vehicle ids mapped to their tracker IMEI or None.
Fleet = Collection[str] | Mapping[str, "str | None"]


class AnyVehicle:
    """``INGEST_ALLOW_UNKNOWN_VEHICLES``: every syntactically valid vehicle id is admitted,
    and a device is on the vehicle its tracker IMEI is registered to, else on its own id."""

    def __init__(self, devices: VehicleRegistry | None = None) -> None:
        self._devices = devices

    def refresh_if_due(self) -> None:
        pass

    def __contains__(self, vehicle_id: object) -> bool:
        return True

    def vehicle_of_device(self, device_id: str) -> str | None:
        if self._devices is not None:
            try:
                self._devices.refresh_if_due()
            except VehicleRegistryUnavailable:
                return device_id  # unknown devices are accepted anyway: no reason to hold
            vehicle_id = self._devices.vehicle_of_device(device_id)
            if vehicle_id is not None:
                return vehicle_id
        return device_id


class VehicleRegistry:
    """The registered vehicle ids, reloaded on a timer and (rate-limited) on a miss."""

    def __init__(
        self,
        *,
        refresh_s: float,
        load: Callable[[], Fleet] = vehicle_admission_get,
        miss_refresh_s: float = MISS_REFRESH_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._load_ids = load
        self._refresh_s = refresh_s
        self._miss_refresh_s = miss_refresh_s
        self._clock = clock
        self._ids: frozenset[str] = frozenset()
        self._devices: dict[str, str] = {}
        self._loaded = False
        self._due_at = float("-inf")  # the next timed reload
        self._miss_reload_at = float("-inf")  # the earliest reload a miss may cause
        self._outage = Outage("vehicle registry")

    def refresh_if_due(self) -> None:
        """Reload when the refresh interval has passed; raise if nothing was ever loaded."""
        if self._clock() >= self._due_at:
            self._reload()
        if not self._loaded:
            raise VehicleRegistryUnavailable("the vehicle registry could not be loaded yet")

    def __contains__(self, vehicle_id: object) -> bool:
        if vehicle_id in self._ids:
            return True
        if self._clock() < self._miss_reload_at:
            return False
        self._reload()
        return vehicle_id in self._ids

    def vehicle_of_device(self, device_id: str) -> str | None:
        """The vehicle whose tracker IMEI is ``device_id``; a miss reloads as ``in`` does."""
        vehicle_id = self._devices.get(device_id)
        if vehicle_id is not None or self._clock() < self._miss_reload_at:
            return vehicle_id
        self._reload()
        return self._devices.get(device_id)

    def _reload(self) -> None:
        now = self._clock()
        # The ingest thread has no request boundary: drop a connection PostgreSQL closed.
        heal_connections()
        try:
            fleet = self._load_ids()
            ids = frozenset(fleet)
        except DATABASE_UNAVAILABLE as error:
            self._outage.failed(error)
            self._due_at = self._miss_reload_at = now + RETRY_AFTER_S
            return
        self._outage.recovered()
        self._ids, self._loaded = ids, True
        self._devices = devices_of(fleet)
        self._due_at = now + self._refresh_s
        self._miss_reload_at = now + self._miss_refresh_s
        metrics.REGISTERED_VEHICLES.set(len(ids))


def devices_of(fleet: Fleet) -> dict[str, str]:
    """``{tracker IMEI: vehicle id}`` of a loaded fleet (none when it holds ids only)."""
    if not isinstance(fleet, Mapping):
        return {}
    return {imei: vehicle_id for vehicle_id, imei in fleet.items() if imei}


def vehicle_admission(*, allow_unknown: bool, refresh_s: float) -> VehicleAdmission:
    """The admission an ingress uses, from its settings."""
    if allow_unknown:
        return AnyVehicle(VehicleRegistry(refresh_s=refresh_s))
    return VehicleRegistry(refresh_s=refresh_s)
