"""What the pipeline bench publishes, second by second, and the MQTT packets it is made of. Pure.

A ``RampPlan`` is a list of steps, each ``seconds`` long, in which every vehicle reports
once every ``interval_s`` seconds (vehicle ``i`` at the seconds ``t`` with
``(t + i) % interval_s == 0``, so each second carries the same share of the fleet):
``8,4,2,1`` multiplies the rate by two per step, up to one fix per vehicle per second,
the most a vehicle may send (positions carry whole POSIX seconds). Each second's
messages leave in ``SLICES`` bursts, vehicle ``i`` in burst ``i % SLICES``, so the
harness knows when each fix was published from the publisher's log of burst times.

The packets are MQTT 3.1.1, built once before the run (``publish_packet``): QoS 1 as a
vehicle sends them (the broker acknowledges each; the subscription's QoS 1 reaches the
ingest), the payload the ingress contract's (``realtime_engine.simulation.messages``).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

SLICES = 10  # bursts per second, 100 ms apart


@dataclass(frozen=True, slots=True)
class Step:
    seconds: int
    interval_s: int  # every vehicle reports once in this many seconds

    def rate(self, vehicles: int) -> float:
        return vehicles / self.interval_s


@dataclass(frozen=True, slots=True)
class RampPlan:
    start: int  # POSIX second of the first fix
    steps: tuple[Step, ...]

    @property
    def end(self) -> int:
        return self.start + sum(step.seconds for step in self.steps)

    def windows(self) -> list[tuple[Step, int, int]]:
        """Each step with its first and one-past-last second."""
        out, at = [], self.start
        for step in self.steps:
            out.append((step, at, at + step.seconds))
            at += step.seconds
        return out

    def step_at(self, second: int) -> Step | None:
        for step, first, end in self.windows():
            if first <= second < end:
                return step
        return None


def reports_at(vehicle_index: int, second: int, interval_s: int) -> bool:
    return (second + vehicle_index) % interval_s == 0


def steps_text(steps: tuple[Step, ...]) -> str:
    """``25x8,25x4``: each step's seconds and reporting interval (the publisher's argument)."""
    return ",".join(f"{step.seconds}x{step.interval_s}" for step in steps)


def steps_parse(text: str) -> tuple[Step, ...]:
    steps = []
    for part in text.split(","):
        seconds, interval = (int(value) for value in part.split("x"))
        if seconds < 1 or interval < 1:
            raise ValueError(f"steps need whole seconds ≥ 1: {part!r}")
        steps.append(Step(seconds, interval))
    return tuple(steps)


def _remaining_length(length: int) -> bytes:
    out = bytearray()
    while True:
        byte, length = length % 128, length // 128
        out.append(byte | (0x80 if length else 0))
        if not length:
            return bytes(out)


def _string(text: str) -> bytes:
    data = text.encode()
    return struct.pack("!H", len(data)) + data


def connect_packet(client_id: str) -> bytes:
    """CONNECT, MQTT 3.1.1, clean session, no keep-alive (the bench's connection is never idle
    long, and a publisher that only writes has no time to answer PINGs)."""
    variable = _string("MQTT") + bytes([4, 0x02]) + struct.pack("!H", 0)
    payload = _string(client_id)
    body = variable + payload
    return bytes([0x10]) + _remaining_length(len(body)) + body


CONNACK_ACCEPTED = bytes([0x20, 0x02, 0x00, 0x00])
PUBACK_LENGTH = 4  # 0x40, 0x02, packet id


def publish_packet(topic: str, payload: bytes, packet_id: int) -> bytes:
    """PUBLISH at QoS 1 (packet id 1..65535), not retained."""
    body = _string(topic) + struct.pack("!H", packet_id) + payload
    return bytes([0x32]) + _remaining_length(len(body)) + body
