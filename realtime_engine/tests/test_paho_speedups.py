"""The shared-table Properties decode exactly what paho's own class decodes."""

from __future__ import annotations

from paho.mqtt import _packet
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from realtime_engine.ingest import paho_speedups


def test_installed_for_packets_paho_decodes():
    assert paho_speedups.install()
    assert _packet.Properties is paho_speedups.SharedTableProperties


def test_empty_and_present_properties_decode_like_paho():
    empty = paho_speedups.SharedTableProperties(PacketTypes.PUBLISH)
    assert empty.unpack(b"\x00payload")[1] == 1
    assert empty.json() == {}

    sent = Properties(PacketTypes.PUBLISH)
    sent.ContentType = "application/json"
    sent.UserProperty = ("fw", "2.1")
    wire = sent.pack()
    ours, ours_len = paho_speedups.SharedTableProperties(PacketTypes.PUBLISH).unpack(wire)
    theirs, theirs_len = Properties(PacketTypes.PUBLISH).unpack(wire)
    assert ours_len == theirs_len == len(wire)
    assert (
        ours.json()
        == theirs.json()
        == {"ContentType": "application/json", "UserProperty": [("fw", "2.1")]}
    )
