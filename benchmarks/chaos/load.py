"""The paced QoS 1 load of `make chaos` and `make soak`, and the log of what the broker acked.

``python -m benchmarks.chaos.load --port P --root R --prefix CHAOS- --vehicles 200 --log F``
runs in its own process (the harness's checks must not steal its CPU, nor it theirs):
every second each vehicle ``{prefix}{i:04d}`` sends one position whose ``timestamp`` is
that second, so ``(vehicle, timestamp)`` names a message and the position history
table can be matched against it. Each PUBACK (reason code < 0x80) is appended to the
log as ``ack_epoch vehicle_index fix_timestamp``; a message never acknowledged is not
counted as sent. paho keeps unacknowledged messages over a broker restart and sends
them again. SIGTERM stops the ticks, waits up to ``--drain`` seconds for outstanding
acknowledgements and exits. Without ``--log`` only a count is kept (the soak).

``AckLog`` is the harness's reader of that file.
"""

from __future__ import annotations

import argparse
import collections
import signal
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import msgspec

SESSION_EXPIRY_S = 600
# paho numbers QoS 1 messages with 16-bit ids; sweeping every tick keeps far fewer in hand.
MAX_INFLIGHT = 1000
CHUNKS = 20  # bursts per second


class _Fix(msgspec.Struct):
    latitude: float
    longitude: float
    speed: float
    bearing: float
    timestamp: int


def vehicle_id(prefix: str, index: int) -> str:
    return f"{prefix}{index:04d}"


def _fix(index: int, second: int) -> _Fix:
    # Spread over ~1 km² so each vehicle has its own position; valid everywhere.
    return _Fix(
        latitude=38.9 + (index % 100) * 1e-4 + (second % 60) * 1e-6,
        longitude=-77.0 + (index // 100) * 1e-4,
        speed=5.0,
        bearing=90.0,
        timestamp=second,
    )


def publish_main(argv: list[str]) -> None:
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion
    from paho.mqtt.packettypes import PacketTypes
    from paho.mqtt.properties import Properties

    parser = argparse.ArgumentParser(prog="python -m benchmarks.chaos.load")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--root", required=True)
    parser.add_argument("--prefix", required=True)
    parser.add_argument("--vehicles", type=int, required=True)
    parser.add_argument("--log", help="append acknowledged messages here")
    parser.add_argument("--drain", type=float, default=20.0)
    args = parser.parse_args(argv)

    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    signal.signal(signal.SIGINT, lambda *_: stopping.set())
    # Acknowledged ids, appended by paho's network thread, resolved by this one: no lock
    # is held across client.publish (paho's own locks would order against ours).
    acked: collections.deque[int] = collections.deque()

    def on_publish(client, userdata, mid, reason_code, properties) -> None:
        if not getattr(reason_code, "is_failure", False):
            acked.append(mid)

    client = mqtt.Client(
        CallbackAPIVersion.VERSION2,
        client_id=f"chaos-load-{uuid.uuid4().hex[:8]}",
        protocol=mqtt.MQTTv5,
    )
    client.max_inflight_messages_set(MAX_INFLIGHT)
    client.max_queued_messages_set(0)
    client.reconnect_delay_set(min_delay=1, max_delay=2)
    client.on_publish = on_publish
    properties = Properties(PacketTypes.CONNECT)
    properties.SessionExpiryInterval = SESSION_EXPIRY_S
    client.connect("127.0.0.1", args.port, clean_start=False, properties=properties)
    client.loop_start()
    log = open(args.log, "a", buffering=1 << 16) if args.log else None  # noqa: SIM115
    pending: dict[int, tuple[int, int]] = {}
    acknowledged = 0
    encoder = msgspec.json.Encoder()
    topics = [
        f"{args.root}/vehicle/{vehicle_id(args.prefix, i)}/position" for i in range(args.vehicles)
    ]

    def sweep() -> None:
        nonlocal acknowledged
        now = time.time()
        lines = []
        while acked:
            item = pending.pop(acked.popleft(), None)
            if item is not None:
                acknowledged += 1
                lines.append(f"{now:.3f} {item[0]} {item[1]}\n")
        if log and lines:
            log.write("".join(lines))
            log.flush()

    # Each second's messages go out in CHUNKS bursts: one sleep per message would
    # overshoot by more than the gap between messages at a few thousand a second.
    chunk = max(1, -(-args.vehicles // CHUNKS))
    second = int(time.time()) + 1
    while not stopping.is_set():
        slot_start = float(second)
        for first in range(0, args.vehicles, chunk):
            delay = slot_start + first / args.vehicles - time.time()
            if delay > 0 and stopping.wait(delay):
                break
            for index in range(first, min(first + chunk, args.vehicles)):
                payload = encoder.encode(_fix(index, second))
                info = client.publish(topics[index], payload, qos=1)
                pending[info.mid] = (index, second)
        sweep()
        second += 1
        late = time.time() - second
        if late > 0:  # fell behind (a stall): skip whole seconds, never reuse a timestamp
            second += int(late) + 1
    deadline = time.monotonic() + args.drain
    while pending and time.monotonic() < deadline:
        time.sleep(0.1)
        sweep()
    sweep()
    client.disconnect()
    client.loop_stop()
    if log:
        log.close()
    print(f"load: {acknowledged} acknowledged, {len(pending)} never acknowledged", flush=True)


@dataclass(frozen=True, slots=True)
class Ack:
    at: float  # epoch s the publisher saw the PUBACK
    vehicle_id: str
    timestamp: int  # the fix's own timestamp (epoch s)


class AckLog:
    """Reads the publisher's log as it grows; answers what was acknowledged, and when."""

    def __init__(self, path: Path, prefix: str) -> None:
        self.path, self.prefix = path, prefix
        self.acks: list[Ack] = []
        self._offset = 0
        self._partial = ""

    def refresh(self) -> list[Ack]:
        """Read what was appended since the last call; returns the new acknowledgements."""
        if not self.path.exists():
            return []
        with self.path.open() as source:
            source.seek(self._offset)
            text = self._partial + source.read()
            self._offset = source.tell()
        lines = text.split("\n")
        self._partial = lines.pop()
        new = []
        for line in lines:
            at, index, timestamp = line.split()
            new.append(Ack(float(at), vehicle_id(self.prefix, int(index)), int(timestamp)))
        self.acks += new
        return new

    def newest_by_vehicle(self, acked_before: float) -> dict[str, int]:
        """Each vehicle's newest acknowledged fix among those acknowledged before the time."""
        newest: dict[str, int] = {}
        for ack in self.acks:
            if ack.at <= acked_before and ack.timestamp > newest.get(ack.vehicle_id, -1):
                newest[ack.vehicle_id] = ack.timestamp
        return newest

    def between(self, first_fix: float, last_fix: float, acked_before: float) -> list[Ack]:
        """Acknowledged fixes with ``first_fix <= timestamp < last_fix``, acked before the time."""
        return [
            ack
            for ack in self.acks
            if first_fix <= ack.timestamp < last_fix and ack.at <= acked_before
        ]


def start_load(
    port: int, root: str, prefix: str, vehicles: int, log: Path | None, output: Path
) -> subprocess.Popen:
    command = [
        sys.executable,
        "-m",
        "benchmarks.chaos.load",
        "--port",
        str(port),
        "--root",
        root,
        "--prefix",
        prefix,
        "--vehicles",
        str(vehicles),
    ]
    if log is not None:
        command += ["--log", str(log)]
    root_dir = Path(__file__).resolve().parents[2]
    with output.open("ab") as out:
        return subprocess.Popen(command, cwd=root_dir, stdout=out, stderr=subprocess.STDOUT)


if __name__ == "__main__":
    publish_main(sys.argv[1:])
