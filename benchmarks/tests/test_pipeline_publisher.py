"""The pipeline bench's publisher: its raw packets reach a subscriber through the shipped broker
as fixes the ingest decoder accepts, on schedule, and its plan spreads the fleet evenly."""

from __future__ import annotations

import threading

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from benchmarks.generated_network import network_generate, vehicle_fix
from benchmarks.pipeline.plan import RampPlan, Step, reports_at, steps_parse, steps_text
from benchmarks.pipeline.publisher import AckCounter, connect, encode_plan
from realtime_engine.ingest.decode import decode_message
from runs.domain.telemetry.position import Position

AT = 1_790_000_000.0


def test_each_step_spreads_the_fleet_evenly_over_its_seconds():
    steps = (Step(4, 4), Step(2, 1))
    assert steps_parse(steps_text(steps)) == steps
    for second in range(100, 104):
        assert sum(reports_at(i, second, 4) for i in range(40)) == 10


def test_encoded_packets_arrive_as_the_fixes_of_the_plan(private_broker):
    port = int(private_broker.rsplit(":", 1)[1])
    root, vehicles = "bench-test", 6
    received: list[tuple[str, bytes]] = []
    subscribed, done = threading.Event(), threading.Event()
    plan = RampPlan(int(AT), (Step(2, 2), Step(2, 1)))
    expected = 6 + 12

    def on_message(client, userdata, message) -> None:
        received.append((message.topic, message.payload))
        if len(received) == expected:
            done.set()

    subscriber = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    subscriber.on_message = on_message
    subscriber.on_subscribe = lambda *args: subscribed.set()
    subscriber.connect("127.0.0.1", port)
    subscriber.subscribe(f"{root}/vehicle/+/+", qos=1)
    subscriber.loop_start()
    try:
        assert subscribed.wait(10)
        bursts, total = encode_plan(plan, vehicles, AT, root, connections=2)
        assert total == expected
        sockets = [connect(port, f"bench-test-{n}") for n in range(2)]
        for slices in bursts:
            for _, per_connection in slices:
                for sock, data in zip(sockets, per_connection, strict=True):
                    sock.sendall(data)
        acks = AckCounter(sockets)
        while acks.acknowledged < expected:
            acks.drain(5)
        assert done.wait(10)
    finally:
        subscriber.loop_stop()
        subscriber.disconnect()

    network = network_generate(vehicles, at=AT)
    fixes = set()
    for topic, payload in received:
        decoded = decode_message(topic, payload, AT, root)
        assert isinstance(decoded, Position), decoded
        fix = vehicle_fix(network.trip_of(decoded.vehicle_id), decoded.timestamp)
        assert (decoded.latitude, decoded.longitude, decoded.speed) == (
            fix.latitude,
            fix.longitude,
            fix.speed_mps,
        )
        fixes.add((decoded.vehicle_id, decoded.timestamp))
    seconds = range(plan.start, plan.end)
    assert fixes == {
        (trip.vehicle_id, second)
        for trip in network.trips
        for second in seconds
        if reports_at(trip.index, second, plan.step_at(second).interval_s)
    }
