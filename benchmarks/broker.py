"""`make bench-broker`: how many QoS 1 messages a second Mosquitto carries on this machine.

A private Mosquitto with the shipped configuration (``deploy/mosquitto/mosquitto.conf``:
unbounded queues and in-flight windows, sessions saved every second) on a free loopback
port. Publishers and subscribers are cheap on purpose, so that the broker, not the
clients, sets the ceiling: each is a process writing MQTT 5 packets encoded once up front
to a raw socket (no paho). The ingress's QoS is 1 both ways (vehicles publish at QoS 1,
``realtime_engine.ingest.consumer`` subscribes at QoS 1 and acknowledges every message),
so publishers wait for their PUBACKs in windows of ``WINDOW`` messages and subscribers
send a PUBACK for every PUBLISH they read, in one write per read, from a persistent
session as the ingest's (``clean_start`` off, a session expiry).

First, ``--idle-connections`` (default 5,000) clients connect and stay idle: the broker's
resident memory per connection (plain TCP; TLS buffers would add to it). Then the flows,
``--seconds`` each after a warm-up (default 15):

- ``1 sub``: ``--publishers`` (default 4) publishers flat out into one subscriber;
- ``shared 3``: the same into a shared subscription (``$share/…``) of 3 subscribers, as
  three ingest workers;
- ``paced``: ``--paced-rate`` (default 5,000 msg/s, the national target) into the
  shared subscription, to see what that rate costs the broker.

Reported per scenario: messages/s accepted from publishers and delivered to subscribers,
the broker's CPU per delivered message and its share of one core (utime + stime from
``/proc``; Mosquitto is one thread, so one core is its ceiling), the clients' CPU, and the
broker's resident memory. The ceiling is ``1 s / broker CPU per message``: the rate at
which the broker's single thread would be busy all the time.

Each publisher speaks for ``VEHICLES_PER_PUBLISHER`` vehicles (one topic each, a 1 Hz
position payload as the simulator sends it); a real fleet has one connection per vehicle,
whose keep-alives and TLS this does not measure (``docs/scaling.md`` says what that means).
Imports no Django.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import socket
import struct
import tempfile
import time
from dataclasses import dataclass
from multiprocessing.sharedctypes import Synchronized
from pathlib import Path

from realtime_engine.ingest.topics import TelemetryLeaf, subscription_filters, vehicle_topic
from realtime_engine.simulation.messages import position_payload
from realtime_engine.simulation.publishing import Fix

WINDOW = 1_000  # QoS 1 messages a publisher sends before it waits for their PUBACKs
VEHICLES_PER_PUBLISHER = 1_000
WARMUP_S = 3.0
SESSION_EXPIRY_S = 3_600
RECEIVE_MAXIMUM = 65_535
SHARED_SUBSCRIBERS = 3
ROOT = "bench"

# MQTT 5 packet types (the high nibble of the fixed header's first byte).
CONNACK, PUBLISH, PUBACK, SUBACK = 2, 3, 4, 9


# ----- packets ------------------------------------------------------------------------------


def _varint(value: int) -> bytes:
    """MQTT's variable byte integer (remaining lengths, property lengths)."""
    out = bytearray()
    while True:
        value, digit = divmod(value, 128)
        out.append(digit | (0x80 if value else 0))
        if not value:
            return bytes(out)


def _string(text: str) -> bytes:
    data = text.encode()
    return struct.pack("!H", len(data)) + data


def _packet(first_byte: int, body: bytes) -> bytes:
    return bytes([first_byte]) + _varint(len(body)) + body


def connect_packet(client_id: str, *, persistent: bool) -> bytes:
    """CONNECT, MQTT 5, no keep-alive. ``persistent``: as the ingest connects (clean start
    off, a session expiry, a large Receive Maximum so batched acks never stall)."""
    properties = b""
    if persistent:
        properties = b"\x11" + struct.pack("!I", SESSION_EXPIRY_S)
        properties += b"\x21" + struct.pack("!H", RECEIVE_MAXIMUM)
    flags = 0x00 if persistent else 0x02
    header = _string("MQTT") + bytes([5, flags]) + struct.pack("!H", 0)
    return _packet(0x10, header + _varint(len(properties)) + properties + _string(client_id))


def publish_packet(topic: str, payload: bytes, packet_id: int) -> bytes:
    """PUBLISH at QoS 1, no properties."""
    return _packet(0x32, _string(topic) + struct.pack("!H", packet_id) + b"\x00" + payload)


def subscribe_packet(topic_filter: str, packet_id: int = 1) -> bytes:
    """SUBSCRIBE to one filter at QoS 1."""
    body = struct.pack("!H", packet_id) + b"\x00" + _string(topic_filter) + b"\x01"
    return _packet(0x82, body)


# PUBACK, success, before its packet id (MQTT 5 lets the reason code be left out).
PUBACK_HEADER = b"\x40\x02"
DISCONNECT = b"\xe0\x00"


def take_packets(buffer: bytearray) -> list[tuple[int, bytes]]:
    """(first byte, body) of every whole packet at the front of ``buffer``, removed from it;
    a partial packet stays for the next read."""
    packets, at, size = [], 0, len(buffer)
    while at + 2 <= size:
        length, shift, cursor = 0, 0, at + 1
        while cursor < size:
            digit = buffer[cursor]
            length |= (digit & 0x7F) << shift
            cursor += 1
            if not digit & 0x80:
                break
            shift += 7
        else:
            break
        if cursor + length > size:
            break
        packets.append((buffer[at], bytes(buffer[cursor : cursor + length])))
        at = cursor + length
    del buffer[:at]
    return packets


def handshake(sock: socket.socket, connect: bytes, expected: int) -> bytearray:
    """Send ``connect`` (and what follows it), wait for a packet of type ``expected``;
    the bytes already read after it are returned."""
    sock.sendall(connect)
    buffer = bytearray()
    while True:
        chunk = sock.recv(65_536)
        if not chunk:
            raise ConnectionError("the broker closed the connection")
        buffer += chunk
        for first, body in take_packets(buffer):
            if first >> 4 == CONNACK and body[1] != 0:
                raise ConnectionError(f"CONNACK reason {body[1]:#x}")
            if first >> 4 == expected:
                return buffer


def connect(port: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


# ----- clients (child processes) -------------------------------------------------------------


def publication_windows(index: int, window: int) -> tuple[bytes, bytes]:
    """Two windows of ``window`` PUBLISH packets, ids 1… and window+1…, one per vehicle of
    publisher ``index`` in turn: a window is sent again once its PUBACKs are all in."""
    now = int(time.time())
    windows = []
    for half in (0, 1):
        packets = []
        for i in range(window):
            vehicle = (half * window + i) % VEHICLES_PER_PUBLISHER
            fix = Fix(
                latitude=round(38.9 + vehicle * 1e-4, 7),
                longitude=round(-77.03 + i * 1e-5, 7),
                timestamp=now,
                bearing=92.5,
                speed_mps=8.3,
                odometer_m=25_000_000 + i,
            )
            topic = vehicle_topic(ROOT, f"bench-{index}-{vehicle}", TelemetryLeaf.POSITION)
            packets.append(publish_packet(topic, position_payload(fix), half * window + i + 1))
        windows.append(b"".join(packets))
    return windows[0], windows[1]


def publisher(
    port: int, index: int, rate: float, acked: Synchronized, stop: multiprocessing.Event
) -> None:
    """Publish windows until ``stop``; ``rate`` > 0 paces them (messages/s) in windows of
    1/20 s, so that the broker sees a steady stream rather than bursts."""
    window = WINDOW if not rate else max(10, min(WINDOW, int(rate / 20)))
    windows = publication_windows(index, window)
    sock = connect(port)
    buffer = handshake(sock, connect_packet(f"bench-pub-{index}", persistent=False), CONNACK)
    sent = done = 0
    started = time.monotonic()
    while not stop.is_set():
        # Keep at most two windows in flight: window w's ids are reused by window w + 2.
        while done < sent - window:
            chunk = sock.recv(65_536)
            if not chunk:
                raise ConnectionError("the broker closed the connection")
            buffer += chunk
            done += sum(first >> 4 == PUBACK for first, _ in take_packets(buffer))
            acked.value = done
        if rate:
            delay = started + sent / rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)
        sock.sendall(windows[(sent // window) % 2])
        sent += window
    sock.sendall(DISCONNECT)
    sock.close()


def subscriber(
    port: int, client_id: str, topic_filter: str, received: Synchronized, ready: Synchronized
) -> None:
    """Read PUBLISHes from a persistent session and acknowledge each, until the broker
    closes the connection (the scenario stops the broker's clients by disconnecting)."""
    sock = connect(port)
    handshake(sock, connect_packet(client_id, persistent=True), CONNACK)
    buffer = handshake(sock, subscribe_packet(topic_filter), SUBACK)
    ready.value = 1
    count = 0
    while True:
        try:
            chunk = sock.recv(1 << 20)
        except ConnectionResetError:
            chunk = b""
        if not chunk:
            return
        buffer += chunk
        acks = []
        for first, body in take_packets(buffer):
            if first >> 4 == PUBLISH:
                at = 2 + ((body[0] << 8) | body[1])  # after the topic: the packet id
                acks.append(PUBACK_HEADER + body[at : at + 2])
        if acks:
            sock.sendall(b"".join(acks))
            count += len(acks)
            received.value = count


# ----- measurement ---------------------------------------------------------------------------


def cpu_seconds(pid: int) -> float:
    """utime + stime of one process, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


@dataclass(frozen=True)
class Result:
    name: str
    published_per_s: float
    delivered_per_s: float
    broker_us_per_msg: float
    broker_core_share: float
    publishers_us_per_msg: float
    subscribers_us_per_msg: float
    broker_rss_mib: float

    @property
    def ceiling_per_s(self) -> float:
        """Messages/s with the broker's one thread busy all the time."""
        return 1e6 / self.broker_us_per_msg if self.broker_us_per_msg else 0.0


def run_scenario(
    name: str,
    broker_pid: int,
    port: int,
    *,
    publishers: int,
    subscribers: int,
    rate: float,
    seconds: float,
) -> Result:
    """Start the clients, measure ``seconds`` after the warm-up, stop them."""
    context = multiprocessing.get_context("fork")
    stop = context.Event()
    tag = f"{name.replace(' ', '-')}-{time.monotonic_ns()}"
    # The ingest's own filter, shared by the subscribers as by ingest workers.
    filters = subscription_filters(ROOT, tag if subscribers > 1 else "") * subscribers
    received = [context.Value("q", 0, lock=False) for _ in filters]
    ready = [context.Value("b", 0, lock=False) for _ in filters]
    subs = [
        context.Process(
            target=subscriber, args=(port, f"{tag}-sub-{i}", f, received[i], ready[i]), daemon=True
        )
        for i, f in enumerate(filters)
    ]
    for process in subs:
        process.start()
    deadline = time.monotonic() + 10
    while not all(flag.value for flag in ready):
        if time.monotonic() > deadline:
            raise RuntimeError("a subscriber did not subscribe")
        time.sleep(0.01)
    acked = [context.Value("q", 0, lock=False) for _ in range(publishers)]
    pubs = [
        context.Process(
            target=publisher, args=(port, i, rate / publishers, acked[i], stop), daemon=True
        )
        for i in range(publishers)
    ]
    for process in pubs:
        process.start()
    time.sleep(WARMUP_S)

    def sample() -> tuple[float, int, int, float, float, float]:
        return (
            time.monotonic(),
            sum(v.value for v in acked),
            sum(v.value for v in received),
            cpu_seconds(broker_pid),
            sum(cpu_seconds(p.pid) for p in pubs),
            sum(cpu_seconds(p.pid) for p in subs),
        )

    before = sample()
    time.sleep(seconds)
    after = sample()
    rss = rss_mib(broker_pid)
    stop.set()
    for process in pubs:
        process.join(10)
    # Subscribers leave when their connection closes: take their sessions over.
    for i, _ in enumerate(subs):
        with connect(port) as sock:
            sock.sendall(connect_packet(f"{tag}-sub-{i}", persistent=False) + DISCONNECT)
    for process in (*pubs, *subs):
        process.join(10)
        if process.is_alive():
            process.kill()
    elapsed, published, delivered, broker_cpu, pub_cpu, sub_cpu = (
        b - a for a, b in zip(before, after, strict=True)
    )
    per_message = 1e6 / delivered if delivered else 0.0
    return Result(
        name=name,
        published_per_s=published / elapsed,
        delivered_per_s=delivered / elapsed,
        broker_us_per_msg=broker_cpu * per_message,
        broker_core_share=broker_cpu / elapsed,
        publishers_us_per_msg=pub_cpu * per_message,
        subscribers_us_per_msg=sub_cpu * per_message,
        broker_rss_mib=rss,
    )


def connection_memory(broker_pid: int, port: int, count: int) -> float:
    """Broker bytes per idle vehicle connection: ``count`` clients connected (clean start,
    a 60 s keep-alive as trackers use), the broker's resident memory before and after."""
    before = rss_mib(broker_pid)
    sockets = []
    try:
        for index in range(count):
            sock = connect(port)
            handshake(sock, connect_packet(f"bench-idle-{index}", persistent=False), CONNACK)
            sockets.append(sock)
        time.sleep(0.5)
        return (rss_mib(broker_pid) - before) * 2**20 / count
    finally:
        for sock in sockets:
            sock.close()


def report_line(result: Result) -> str:
    return (
        f"{result.name:>9} | {result.published_per_s:9,.0f} | {result.delivered_per_s:9,.0f} | "
        f"{result.broker_us_per_msg:6.1f} µs | {result.broker_core_share:5.0%} | "
        f"{result.ceiling_per_s:9,.0f} | {result.publishers_us_per_msg:5.1f} / "
        f"{result.subscribers_us_per_msg:5.1f} µs | {result.broker_rss_mib:6.1f} MiB"
    )


REPORT_HEADER = (
    "scenario  | published/s | delivered/s | broker CPU/msg | broker core | ceiling/s "
    "| pub / sub CPU/msg | broker RSS"
)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.broker", description=__doc__)
    parser.add_argument("--publishers", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--paced-rate", type=float, default=5_000.0)
    parser.add_argument("--idle-connections", type=int, default=5_000)
    options = parser.parse_args(argv)

    from benchmarks.ingest import machine
    from tests.support.processes import start_mosquitto

    version = os.popen("mosquitto -h 2>&1").readline().strip()
    print(
        f"broker benchmark: {version}, deploy/mosquitto/mosquitto.conf, QoS 1 both ways, "
        f"{options.publishers} publishers x {VEHICLES_PER_PUBLISHER} vehicles, "
        f"{options.seconds:.0f} s per scenario; {machine()}; "
        f"load average {os.getloadavg()[0]:.1f}"
    )
    scenarios = (
        ("1 sub", 1, 0.0),
        (f"shared {SHARED_SUBSCRIBERS}", SHARED_SUBSCRIBERS, 0.0),
        ("paced", SHARED_SUBSCRIBERS, options.paced_rate),
    )
    with tempfile.TemporaryDirectory(prefix="bench-broker-") as workdir:
        broker, port = start_mosquitto(Path(workdir))
        try:
            if options.idle_connections:
                per = connection_memory(broker.process.pid, port, options.idle_connections)
                print(
                    f"{options.idle_connections:,} idle connections: broker resident memory "
                    f"+{per / 1024:.1f} KiB per connection"
                )
            print(REPORT_HEADER)
            for name, subscribers, rate in scenarios:
                result = run_scenario(
                    name,
                    broker.process.pid,
                    port,
                    publishers=options.publishers,
                    subscribers=subscribers,
                    rate=rate,
                    seconds=options.seconds,
                )
                print(report_line(result), flush=True)
        finally:
            broker.stop()
    print(f"load average after: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
