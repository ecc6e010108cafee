"""bench-broker's clients: the packets they write are MQTT 5 a real Mosquitto accepts at QoS 1."""

from __future__ import annotations

import socket

from benchmarks.broker import (
    CONNACK,
    PUBACK,
    PUBLISH,
    SUBACK,
    connect_packet,
    handshake,
    publish_packet,
    subscribe_packet,
    take_packets,
)


def test_packets_are_taken_whole_from_a_stream_cut_anywhere():
    stream = b"".join(publish_packet("t/vehicle/v/position", b"x" * n, n + 1) for n in range(200))
    buffer, taken = bytearray(), []
    for at in range(0, len(stream), 97):
        buffer += stream[at : at + 97]
        taken += take_packets(buffer)
    assert not buffer
    assert [len(body) for _, body in taken] == [2 + 20 + 2 + 1 + n for n in range(200)]
    assert {first for first, _ in taken} == {0x32}


def test_a_publisher_and_a_persistent_subscriber_exchange_qos1(private_broker):
    port = int(private_broker.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sub:
        handshake(sub, connect_packet("bench-test-sub", persistent=True), CONNACK)
        buffer = handshake(sub, subscribe_packet("t/vehicle/+/+"), SUBACK)
        with socket.create_connection(("127.0.0.1", port), timeout=5) as pub:
            handshake(pub, connect_packet("bench-test-pub", persistent=False), CONNACK)
            pub.sendall(b"".join(publish_packet("t/vehicle/v/position", b"{}", i) for i in (7, 8)))
            acks = []
            while len(acks) < 2:
                buffer += pub.recv(4096)
                acks += [first >> 4 for first, _ in take_packets(buffer)]
            assert acks == [PUBACK, PUBACK]
        received, buffer = [], bytearray(buffer)
        while len(received) < 2:
            buffer += sub.recv(4096)
            received += take_packets(buffer)
    assert [first >> 4 for first, _ in received] == [PUBLISH, PUBLISH]
    assert all(first & 0x06 == 0x02 for first, _ in received)  # delivered at QoS 1
    assert all(body[2:22] == b"t/vehicle/v/position" for _, body in received)
    assert all(body.endswith(b"{}") for _, body in received)
