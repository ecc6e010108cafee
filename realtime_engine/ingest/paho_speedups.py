"""Make paho's MQTT 5 PUBLISH decoding cheap: share its property tables between packets.

paho builds a fresh ``Properties`` for every received MQTT 5 PUBLISH, and its
constructor rebuilds two lookup tables (27 names, 27 type entries) each time,
then ``unpack`` clears every attribute by name: together about a third of the
consumer's CPU per message in our profile (``make bench-ingest``). This subclass
shares the constant tables and skips the work when the packet carries no
properties (the common case). Behaviour is unchanged: a packet with properties
goes through paho's own ``unpack``. Applied once by ``install()`` (the consumer
module calls it); if paho's private layout changes, it leaves paho alone.
"""

from __future__ import annotations

from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

_TEMPLATE = Properties(PacketTypes.PUBLISH)


class SharedTableProperties(Properties):
    def __init__(self, packetType) -> None:  # paho names it so
        object.__setattr__(self, "packetType", packetType)
        object.__setattr__(self, "types", _TEMPLATE.types)
        object.__setattr__(self, "names", _TEMPLATE.names)
        object.__setattr__(self, "properties", _TEMPLATE.properties)

    def unpack(self, buffer):
        if buffer[:1] == b"\x00":  # property length 0: nothing to decode or clear
            return self, 1
        return super().unpack(buffer)


def install() -> bool:
    """Use the shared-table class for packets paho decodes; False if paho's layout differs."""
    try:
        from paho.mqtt import _packet
    except ImportError:
        return False
    if getattr(_packet, "Properties", None) not in (Properties, SharedTableProperties):
        return False
    if not all(hasattr(_TEMPLATE, name) for name in ("types", "names", "properties")):
        return False
    _packet.Properties = SharedTableProperties
    return True
