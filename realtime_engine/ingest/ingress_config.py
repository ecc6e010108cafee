"""What every ingress consumer (MQTT, Redis Streams) is configured with alike.

``IngressConfig`` is the base of ``consumer.ConsumerConfig`` and
``streams.consumer.StreamsConfig``: the dead-letter bound, the drain on stop and which
vehicles are trusted mean the same for both, and are read from the same settings
(``service._ingress_settings``).
"""

from __future__ import annotations

from dataclasses import dataclass

from realtime_engine.ingest.vehicle_registry import VehicleAdmission, vehicle_admission


# kw_only: these defaults may follow an ingress's own required fields.
@dataclass(frozen=True, kw_only=True)
class IngressConfig:
    dlq_maxlen: int = 100_000
    # On stop: how long to spend writing and acknowledging what is in hand.
    drain_s: float = 5.0
    # Which vehicles are trusted (``vehicle_registry``): registered ones only, unless allowed.
    allow_unknown_vehicles: bool = False
    vehicle_registry_refresh_s: float = 30.0

    def admission(self, vehicles: VehicleAdmission | None = None) -> VehicleAdmission:
        """``vehicles`` (tests) as given, else the registry these settings describe."""
        if vehicles is not None:
            return vehicles
        return vehicle_admission(
            allow_unknown=self.allow_unknown_vehicles,
            refresh_s=self.vehicle_registry_refresh_s,
        )
