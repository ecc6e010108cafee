"""The VehicleDescriptor the feeds publish: only the fields the agency makes public. Pure.

``vehicle:{vid}:metadata`` holds the vehicle's label, licence plate and wheelchair
accessibility; an agency may not want a plate (or even a fleet label) in a public feed.
``DescriptorPolicy`` says which of the two are published (settings
``FEED_PUBLISH_VEHICLE_LABEL``, ``FEED_PUBLISH_LICENSE_PLATE``, read by the build shell
and passed down); accessibility is always carried, in both feeds. Pure.
"""

from __future__ import annotations

from dataclasses import dataclass

from runs.domain.projections import vehicle_metadata
from schedule_engine.feeds.snapshots import VehicleSnapshot, WheelchairAccessible
from schedule_engine.hot_state_read import Hash

WHEELCHAIR_VALUES = {
    True: WheelchairAccessible.WHEELCHAIR_ACCESSIBLE,
    False: WheelchairAccessible.WHEELCHAIR_INACCESSIBLE,
}


@dataclass(frozen=True, slots=True)
class DescriptorPolicy:
    """Which optional VehicleDescriptor fields are public (the settings' defaults)."""

    label: bool = True
    license_plate: bool = False


SETTINGS_DEFAULT = DescriptorPolicy()


def vehicle_descriptor(
    vehicle_id: str, fields: Hash, policy: DescriptorPolicy = SETTINGS_DEFAULT
) -> VehicleSnapshot:
    """The descriptor of ``vehicle_id`` from its stored metadata (``{}``: its id alone)."""
    metadata = vehicle_metadata.from_redis(vehicle_id, fields)
    return VehicleSnapshot(
        vehicle_id=vehicle_id,
        label=metadata.label if policy.label else None,
        license_plate=metadata.license_plate if policy.license_plate else None,
        wheelchair_accessible=WHEELCHAIR_VALUES.get(metadata.wheelchair_accessible),
    )
