"""The pipeline bench's vehicles: pre-encoded MQTT packets written to raw sockets, paced.

``python -m benchmarks.pipeline.publisher --port P --root R --vehicles N --at A --start S
--steps 15x8,25x8,25x4 --log FILE`` runs in its own process so that its CPU is measured
apart (and reported): it regenerates the bench's network (``network_generate`` is pure and
deterministic in ``--vehicles`` and ``--at``), builds every PUBLISH packet of the plan
before ``--start`` (each vehicle's fix at each second it reports, on schedule along its
shape), then at each second writes that second's packets in ``SLICES`` bursts over
``--connections`` MQTT 3.1.1 connections (vehicle ``i`` always on connection
``i % connections``, so its fixes stay in order), reading the PUBACKs without decoding
them. After each burst a line ``second slice epoch`` goes to the log: the harness takes it
as the publish time of that burst's fixes. SIGTERM ends the plan early. Last line:
``published P acknowledged A``.
"""

from __future__ import annotations

import argparse
import os
import select
import signal
import socket
import sys
import time

from benchmarks.generated_network import network_generate, vehicle_fix
from benchmarks.pipeline.plan import (
    CONNACK_ACCEPTED,
    PUBACK_LENGTH,
    SLICES,
    RampPlan,
    connect_packet,
    publish_packet,
    reports_at,
    steps_parse,
)
from realtime_engine.ingest.topics import TelemetryLeaf, vehicle_topic
from realtime_engine.simulation.messages import position_payload

ACK_WAIT_S = 10.0


def encode_plan(plan: RampPlan, vehicles: int, at: float, root: str, connections: int):
    """bursts[second - start][slice] = (messages, bytes to write on each connection); and the
    message count of the whole plan."""
    network = network_generate(vehicles, at=at)
    topics = [vehicle_topic(root, t.vehicle_id, TelemetryLeaf.POSITION) for t in network.trips]
    bursts, count, packet_id = [], 0, 0
    for second in range(plan.start, plan.end):
        step = plan.step_at(second)
        slices = [[bytearray() for _ in range(connections)] for _ in range(SLICES)]
        counts = [0] * SLICES
        for trip in network.trips:
            if not reports_at(trip.index, second, step.interval_s):
                continue
            packet_id = packet_id % 0xFFFF + 1
            payload = position_payload(vehicle_fix(trip, second))
            packet = publish_packet(topics[trip.index], payload, packet_id)
            slices[trip.index % SLICES][trip.index % connections] += packet
            counts[trip.index % SLICES] += 1
            count += 1
        bursts.append([(n, [bytes(b) for b in s]) for n, s in zip(counts, slices, strict=True)])
    return bursts, count


def connect(port: int, client_id: str) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.sendall(connect_packet(client_id))
    reply = b""
    while len(reply) < len(CONNACK_ACCEPTED):
        chunk = sock.recv(len(CONNACK_ACCEPTED) - len(reply))
        if not chunk:
            raise ConnectionError("broker closed the connection before CONNACK")
        reply += chunk
    if reply != CONNACK_ACCEPTED:
        raise ConnectionError(f"broker refused the connection: {reply.hex()}")
    return sock


class AckCounter:
    def __init__(self, sockets: list[socket.socket]) -> None:
        self.sockets, self.received = sockets, 0

    def drain(self, timeout: float) -> None:
        """Read whatever the broker sent, waiting up to ``timeout`` for the first of it."""
        readable, _, _ = select.select(self.sockets, [], [], max(timeout, 0.0))
        for sock in readable:
            data = sock.recv(1 << 16)
            if not data:
                raise ConnectionError("broker closed a publisher connection")
            self.received += len(data)

    @property
    def acknowledged(self) -> int:
        return self.received // PUBACK_LENGTH


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.pipeline.publisher")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--root", required=True)
    parser.add_argument("--vehicles", type=int, required=True)
    parser.add_argument("--at", type=float, required=True, help="the network's placement time")
    parser.add_argument("--start", type=int, required=True, help="POSIX second of the first fix")
    parser.add_argument("--steps", required=True, help="25x8,25x4: seconds x reporting interval")
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument("--log", required=True)
    args = parser.parse_args(argv)

    stopping = False

    def stop(*_) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    plan = RampPlan(args.start, steps_parse(args.steps))
    began = time.perf_counter()
    bursts, total = encode_plan(plan, args.vehicles, args.at, args.root, args.connections)
    print(f"encoded {total} packets in {time.perf_counter() - began:.1f} s", flush=True)
    if time.time() > plan.start:
        sys.exit(f"not ready before the start ({time.time() - plan.start:.1f} s late)")
    tag = f"bench-pipeline-{os.getpid()}"
    sockets = [connect(args.port, f"{tag}-{c}") for c in range(args.connections)]
    acks = AckCounter(sockets)
    published = 0
    with open(args.log, "w", buffering=1 << 16) as log:
        for offset, slices in enumerate(bursts):
            second = plan.start + offset
            for index, (messages, per_connection) in enumerate(slices):
                while (wait := second + index / SLICES - time.time()) > 0 and not stopping:
                    acks.drain(wait)
                if stopping:
                    break
                for sock, data in zip(sockets, per_connection, strict=True):
                    if data:
                        sock.sendall(data)
                published += messages
                log.write(f"{second} {index} {time.time():.4f}\n")
            log.flush()
            if stopping:
                break
    deadline = time.monotonic() + ACK_WAIT_S
    while acks.acknowledged < published and time.monotonic() < deadline:
        acks.drain(0.1)
    for sock in sockets:
        sock.close()
    print(f"published {published} acknowledged {acks.acknowledged}", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
