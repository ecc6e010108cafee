"""Vehicle broker accounts against a real Mosquitto running the production configuration.

Each broker here runs ``deploy/mosquitto/mosquitto.prod.conf`` as shipped, with both
listeners on loopback, the password and ACL files that ``manage.py
broker_credentials`` wrote from the vehicles table, and certificates of a test CA.
As in production, vehicles connect over TLS (the 8883 listener) and the servers'
service account on the plain listener (1883), where it subscribes to the shared
group the ingest workers use.

"Nothing arrived" is proven by order, not by waiting: one client's messages reach a
subscriber in the order it published them, so once a later message of the same
publisher has arrived, an earlier one that was going to arrive has too.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import pwd
import re
import shutil
import signal
import stat
import subprocess
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from databus import keys
from databus.env import parse_mqtt_url
from realtime_engine.broker.files import write_private_file
from realtime_engine.broker.passwords import parse_hash, verify_password
from realtime_engine.models import BrokerCredential
from runs.domain.telemetry import position
from runs.models import Vehicle
from tests.support.processes import ROOT, ManagedProcess, free_port, start_mosquitto, wait_for

PROD_CONF = (ROOT / "deploy/mosquitto/mosquitto.prod.conf").read_text()
MOUNT_POINT = re.search(r"^mount_point (\S+)$", PROD_CONF, re.MULTILINE).group(1)
SHARED_GROUP = "databus"  # compose.prod.yml's MQTT_SHARED_GROUP
SERVICE_USER, SERVICE_PASSWORD = "databus", "service-password-from-the-env-file"
TIMEOUT_S = 10


def make_certificates(directory: Path) -> Path:
    """A test CA and a server certificate for localhost/127.0.0.1, named as the shipped
    configuration expects them; returns the CA certificate a client trusts."""
    directory.mkdir(parents=True, exist_ok=True)
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2"]
    (directory / "san.ext").write_text("subjectAltName=DNS:localhost,IP:127.0.0.1\n")
    ca = ["-keyout", "ca.key", "-out", "chain.pem", "-subj", "/CN=databus test CA"]
    csr = ["-keyout", "privkey.pem", "-out", "server.csr", "-subj", "/CN=localhost"]
    sign = ["-in", "server.csr", "-CA", "chain.pem", "-CAkey", "ca.key", "-CAcreateserial"]
    sign += ["-out", "fullchain.pem", "-days", "2", "-extfile", "san.ext"]
    for command in (["req", "-x509", *ec, *ca], ["req", *ec, *csr], ["x509", "-req", *sign]):
        subprocess.run(["openssl", *command], cwd=directory, check=True, capture_output=True)
    return directory / "chain.pem"


class Client:
    """A paho MQTT 5 client that records its CONNACK, SUBACKs, PUBACKs and messages."""

    def __init__(
        self,
        port: int,
        username: str,
        password: str,
        *,
        ca: Path | None = None,
        client_id: str | None = None,
    ) -> None:
        self.port = port
        self.received: list[tuple[str, bytes]] = []
        self.connack: mqtt.ReasonCode | None = None
        self.subacks: list[mqtt.ReasonCode] = []
        self.pubacks: dict[int, mqtt.ReasonCode] = {}
        self.disconnected = threading.Event()
        self._connected = threading.Event()
        self._subscribed = threading.Event()
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=client_id or f"test-{uuid.uuid4().hex[:8]}",
            protocol=mqtt.MQTTv5,
            reconnect_on_failure=False,  # a refused or dropped client stays out
        )
        self.client.username_pw_set(username, password)
        if ca is not None:
            self.client.tls_set(ca_certs=str(ca))
        self.client.on_connect = self._on_connect
        self.client.on_subscribe = self._on_subscribe
        self.client.on_publish = self._on_publish
        self.client.on_message = self._on_message
        self.client.on_disconnect = lambda *args: self.disconnected.set()

    def connect(self, *, session_expiry_s: int = 0) -> mqtt.ReasonCode | None:
        """The CONNACK's reason code; None if the broker closed the connection without one."""
        properties = Properties(PacketTypes.CONNECT)
        properties.SessionExpiryInterval = session_expiry_s
        self.client.connect("127.0.0.1", self.port, clean_start=False, properties=properties)
        self.client.loop_start()
        wait_for(
            lambda: self._connected.is_set() or self.disconnected.is_set(), TIMEOUT_S, "CONNACK"
        )
        return self.connack

    def subscribe(self, topic_filter: str) -> mqtt.ReasonCode:
        self._subscribed.clear()
        self.client.subscribe(topic_filter, qos=1)
        assert self._subscribed.wait(TIMEOUT_S), "no SUBACK"
        return self.subacks[-1]

    def publish(self, topic: str, payload: bytes | dict) -> mqtt.ReasonCode:
        """QoS 1; returns the PUBACK's reason code once the broker has answered."""
        if isinstance(payload, dict):
            payload = json.dumps(payload).encode()
        info = self.client.publish(topic, payload, qos=1)
        info.wait_for_publish(TIMEOUT_S)
        wait_for(lambda: info.mid in self.pubacks, TIMEOUT_S, "PUBACK")
        return self.pubacks[info.mid]

    def topics(self) -> list[str]:
        return [topic for topic, _ in self.received]

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()

    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:
        self.connack = reason_code
        self._connected.set()

    def _on_subscribe(self, client, userdata, mid, reason_codes, properties) -> None:
        self.subacks.extend(reason_codes)
        self._subscribed.set()

    def _on_publish(self, client, userdata, mid, reason_code, properties) -> None:
        self.pubacks[mid] = reason_code

    def _on_message(self, client, userdata, message) -> None:
        self.received.append((message.topic, message.payload))


@dataclass
class Fleet:
    """A production-configured broker and the accounts written for it."""

    config_dir: Path
    plain_port: int
    tls_port: int
    ca: Path
    root: str  # the servers' MQTT_TOPIC_ROOT, inside the broker
    vehicle_root: str  # what vehicles publish under (the root without the mount point)
    secrets: dict[str, str]
    broker: ManagedProcess
    clients: list[Client] = field(default_factory=list)

    def vehicle(self, vehicle_id: str, *, password: str | None = None, **options) -> Client:
        """A vehicle's client on the TLS listener, connected (``connack`` says if it was let in)."""
        password = self.secrets[vehicle_id] if password is None else password
        client = Client(self.tls_port, vehicle_id, password, ca=self.ca, **options)
        self.clients.append(client)
        client.connect()
        return client

    def service(self, *, client_id: str | None = None, session_expiry_s: int = 0) -> Client:
        """The service account on the plain listener, in the ingest's shared group."""
        client = Client(self.plain_port, SERVICE_USER, SERVICE_PASSWORD, client_id=client_id)
        self.clients.append(client)
        assert not client.connect(session_expiry_s=session_expiry_s).is_failure
        assert not client.subscribe(f"$share/{SHARED_GROUP}/{self.root}/vehicle/+/+").is_failure
        return client

    def topic(self, vehicle_id: str, leaf: str = "position") -> str:
        """The topic a vehicle publishes to (DESIGN.md), as the vehicle names it."""
        return f"{self.vehicle_root}/vehicle/{vehicle_id}/{leaf}"

    def seen_by_servers(self, vehicle_id: str, leaf: str = "position") -> str:
        return f"{self.root}/vehicle/{vehicle_id}/{leaf}"


def broker_credentials(*arguments: str, paths: dict[str, Path], owner: str = "") -> str:
    """``manage.py broker_credentials`` with these files (and owner); returns its stdout."""
    options = [f"--{name.replace('_', '-')}={path}" for name, path in paths.items()]
    options += [f"--owner={owner}"] if owner else []
    out = io.StringIO()
    call_command("broker_credentials", *arguments, *options, stdout=out, stderr=io.StringIO())
    return out.getvalue()


def rotate(*vehicle_ids: str, paths: dict[str, Path], owner: str = "") -> dict[str, str]:
    """``broker_credentials rotate``: the secrets it printed, by vehicle id."""
    vehicles = [f"--vehicle={vehicle_id}" for vehicle_id in vehicle_ids]
    printed = broker_credentials("rotate", *vehicles, paths=paths, owner=owner)
    return dict(line.split("\t") for line in printed.splitlines())


@pytest.fixture
def accounts(db, settings, topic_root, tmp_path):
    """bus-1 and bus-2 with broker accounts, bus-3 without; the files in ``config``."""
    settings.MQTT_TOPIC_ROOT = f"{MOUNT_POINT}{topic_root}"
    plain_port = free_port()
    settings.MQTT_URL = f"mqtt://{SERVICE_USER}:{SERVICE_PASSWORD}@127.0.0.1:{plain_port}"
    settings.MQTT_ADDRESS = parse_mqtt_url(settings.MQTT_URL)
    for vehicle_id in ("bus-1", "bus-2", "bus-3"):
        Vehicle.objects.create(id=vehicle_id)
    config_dir = tmp_path / "config"
    config_dir.mkdir()
    paths = {"password_file": config_dir / "passwd", "acl_file": config_dir / "acl"}
    secrets = rotate("bus-1", "bus-2", paths=paths)
    return config_dir, plain_port, secrets, paths


@pytest.fixture
def certificates(tmp_path) -> tuple[Path, Path]:
    certs_dir = tmp_path / "certs"
    return certs_dir, make_certificates(certs_dir)


@pytest.fixture
def fleet(accounts, certificates, settings, topic_root, tmp_path):
    config_dir, plain_port, secrets, _ = accounts
    certs_dir, ca = certificates
    tls_port = free_port()
    broker, _ = start_mosquitto(
        tmp_path / "broker",
        plain_port,
        conf="mosquitto.prod.conf",
        listeners={8883: tls_port},
        mounts={"/mosquitto/config": config_dir, "/mosquitto/certs": certs_dir},
    )
    fleet = Fleet(
        config_dir, plain_port, tls_port, ca, settings.MQTT_TOPIC_ROOT, topic_root, secrets, broker
    )
    yield fleet
    for client in fleet.clients:
        client.close()
    broker.stop()


# ----- what a vehicle may do ------------------------------------------------------------------


def test_the_servers_receive_what_a_vehicle_publishes_under_its_own_id_over_tls(fleet):
    servers = fleet.service()
    bus = fleet.vehicle("bus-1")
    assert not bus.connack.is_failure

    assert not bus.publish(fleet.topic("bus-1"), {"latitude": 1}).is_failure
    assert not bus.publish(fleet.topic("bus-1", "occupancy"), {"occupancy_count": 3}).is_failure

    wait_for(lambda: len(servers.received) == 2, TIMEOUT_S, "both messages")
    assert servers.topics() == [
        fleet.seen_by_servers("bus-1"),
        fleet.seen_by_servers("bus-1", "occupancy"),
    ]


def test_a_vehicle_cannot_publish_as_another_vehicle(fleet):
    servers = fleet.service()
    spoofs = [
        fleet.topic("bus-2"),
        fleet.seen_by_servers("bus-2"),  # the servers' name of bus-2's topic
        f"{fleet.vehicle_root}/vehicle/bus-2/occupancy",
        "$SYS/broker/uptime",
    ]
    for topic in spoofs:
        spoofer = fleet.vehicle("bus-1")
        assert str(spoofer.publish(topic, {"latitude": 9})) == "Not authorized"
        # Mosquitto (2.0.16 on, with max_queued_messages 0) also closes the connection.
        assert spoofer.disconnected.wait(TIMEOUT_S)

    assert not fleet.vehicle("bus-1").publish(fleet.topic("bus-1"), {"latitude": 1}).is_failure
    wait_for(lambda: servers.received, TIMEOUT_S, "bus-1's own message")
    assert servers.topics() == [fleet.seen_by_servers("bus-1")]


def test_a_vehicle_subscription_receives_nothing(fleet):
    servers = fleet.service()
    listener = fleet.vehicle("bus-1")
    filters = [
        "#",
        f"{fleet.vehicle_root}/vehicle/bus-2/#",
        f"{fleet.vehicle_root}/vehicle/+/+",
        fleet.seen_by_servers("bus-2"),
        f"{fleet.vehicle_root}/vehicle/bus-1/#",  # not even its own
        "$SYS/#",
    ]
    for topic_filter in filters:
        listener.subscribe(topic_filter)
    bus_2 = fleet.vehicle("bus-2")
    for n in range(5):
        bus_2.publish(fleet.topic("bus-2"), {"n": n})
    listener.publish(fleet.topic("bus-1"), {"n": 0})
    wait_for(lambda: len(servers.received) == 6, TIMEOUT_S, "every message at the servers")

    # A message the broker sent ``listener`` before answering its next publish has arrived
    # by the time that answer has.
    listener.publish(fleet.topic("bus-1"), {"n": 1})
    assert listener.received == []


def test_a_vehicle_joining_the_shared_group_takes_nothing_from_the_servers(fleet):
    servers = fleet.service()
    thief = fleet.vehicle("bus-1")
    for topic_filter in (
        f"$share/{SHARED_GROUP}/{fleet.vehicle_root}/vehicle/+/+",
        f"$share/{SHARED_GROUP}/{fleet.root}/vehicle/+/+",
        f"$share/{SHARED_GROUP}/#",
    ):
        thief.subscribe(topic_filter)
    bus_2 = fleet.vehicle("bus-2")

    for n in range(20):
        bus_2.publish(fleet.topic("bus-2"), {"n": n})

    # Had it joined the group the broker would deal it every second message, and drop them.
    with contextlib.suppress(TimeoutError):
        wait_for(lambda: len(servers.received) == 20, TIMEOUT_S, "all 20 at the servers")
    assert [json.loads(payload)["n"] for _, payload in servers.received] == list(range(20))
    thief.publish(fleet.topic("bus-1"), {"n": 0})
    assert thief.received == []


def test_a_vehicle_cannot_take_over_the_ingest_session(fleet):
    ingest_id = f"databus-{fleet.root}-ingest-1"
    servers = fleet.service(client_id=ingest_id, session_expiry_s=300)
    intruder = fleet.vehicle("bus-1", client_id=ingest_id)
    assert not intruder.connack.is_failure  # connected, but as client "bus-1"

    bus_2 = fleet.vehicle("bus-2")
    bus_2.publish(fleet.topic("bus-2"), {"n": 1})
    wait_for(lambda: servers.received, TIMEOUT_S, "bus-2's message at the servers")
    assert not servers.disconnected.is_set()
    assert "as bus-1 " in fleet.broker.log()


# ----- who may connect ------------------------------------------------------------------------


def test_wrong_secrets_and_vehicles_without_an_account_are_refused(fleet):
    assert str(fleet.vehicle("bus-1", password=fleet.secrets["bus-2"]).connack) == "Not authorized"
    assert fleet.vehicle("bus-1", password="").connack.is_failure
    assert fleet.vehicle("bus-3", password=fleet.secrets["bus-1"]).connack.is_failure
    assert fleet.vehicle("nobody", password="x").connack.is_failure
    assert not fleet.vehicle("bus-2").connack.is_failure


def test_the_tls_listener_refuses_plain_mqtt(fleet):
    plain = Client(fleet.tls_port, "bus-1", fleet.secrets["bus-1"])
    fleet.clients.append(plain)
    assert plain.connect() is None


def test_the_broker_files_hold_hashes_only_and_nobody_else_may_read_them(accounts):
    config_dir, _, secrets, paths = accounts
    passwd = paths["password_file"].read_text()
    acl = paths["acl_file"].read_text()

    for secret in [*secrets.values(), SERVICE_PASSWORD]:
        assert secret not in passwd and secret not in acl
    entries = dict(line.split(":", 1) for line in passwd.splitlines())
    assert sorted(entries) == ["bus-1", "bus-2", SERVICE_USER]  # bus-3 has no account
    assert verify_password(secrets["bus-1"], entries["bus-1"])
    assert verify_password(SERVICE_PASSWORD, entries[SERVICE_USER])
    for path in paths.values():
        assert stat.S_IMODE(path.stat().st_mode) == 0o640
    assert sorted(p.name for p in config_dir.iterdir()) == ["acl", "passwd"]  # no temp files left
    stored = BrokerCredential.objects.get(vehicle_id="bus-1")
    assert stored.password_hash == entries["bus-1"] and parse_hash(stored.password_hash)


def test_a_clash_with_the_service_account_or_a_missing_vehicle_is_an_error(accounts, settings):
    _, _, _, paths = accounts
    Vehicle.objects.create(id=SERVICE_USER)
    with pytest.raises(CommandError, match="service account"):
        rotate(SERVICE_USER, paths=paths)
    assert not BrokerCredential.objects.filter(vehicle_id=SERVICE_USER).exists()
    with pytest.raises(CommandError, match="no vehicle bus-9"):
        rotate("bus-9", paths=paths)
    settings.MQTT_ADDRESS = parse_mqtt_url("mqtt://127.0.0.1:1883")
    with pytest.raises(CommandError, match="MQTT_URL has no username"):
        broker_credentials(paths=paths)


def test_a_failed_write_leaves_the_old_file_and_no_temporary_one(tmp_path):
    path = tmp_path / "acl"
    write_private_file(path, "old\n")
    with pytest.raises(UnicodeEncodeError):
        write_private_file(path, "new \ud800\n")
    assert path.read_text() == "old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["acl"]


# ----- rotation -------------------------------------------------------------------------------


@pytest.fixture
def unprivileged_dir():
    """A folder the broker's own account can reach (pytest's tmp_path is private to root)."""
    if os.geteuid() != 0:
        pytest.skip("handing files to the broker's account needs root")
    try:
        broker_user = pwd.getpwnam("mosquitto")
    except KeyError:
        pytest.skip("no mosquitto account on this machine")
    directory = Path(tempfile.mkdtemp(prefix="databus-broker-"))
    directory.chmod(0o755)
    yield directory, broker_user
    shutil.rmtree(directory, ignore_errors=True)


def test_rotation_invalidates_the_old_secret_once_the_broker_reloads(
    accounts, unprivileged_dir, settings, topic_root
):
    """As in the eclipse-mosquitto image: the broker runs as its own account (Mosquitto 2
    drops root before reading any file) and rereads files the command handed to it."""
    _, plain_port, _, _ = accounts
    directory, broker_user = unprivileged_dir
    owner = f"{broker_user.pw_uid}:{broker_user.pw_gid}"
    config_dir, certs_dir, broker_dir = (directory / name for name in ("config", "certs", "run"))
    config_dir.mkdir()
    broker_dir.mkdir()
    ca = make_certificates(certs_dir)
    for path in [certs_dir, *certs_dir.iterdir(), broker_dir]:
        os.chown(path, broker_user.pw_uid, broker_user.pw_gid)
    paths = {"password_file": config_dir / "passwd", "acl_file": config_dir / "acl"}
    old = rotate("bus-1", "bus-2", paths=paths, owner=owner)
    tls_port = free_port()
    broker, _ = start_mosquitto(
        broker_dir,
        plain_port,
        conf="mosquitto.prod.conf",
        listeners={8883: tls_port},
        mounts={"/mosquitto/config": config_dir, "/mosquitto/certs": certs_dir},
        user="mosquitto",
    )
    fleet = Fleet(
        config_dir, plain_port, tls_port, ca, settings.MQTT_TOPIC_ROOT, topic_root, old, broker
    )
    try:
        servers = fleet.service()
        old_connection = fleet.vehicle("bus-1")
        bus_2 = fleet.vehicle("bus-2")
        new = rotate("bus-1", paths=paths, owner=owner)["bus-1"]
        assert (paths["password_file"].stat().st_uid, paths["acl_file"].stat().st_gid) == (
            broker_user.pw_uid,
            broker_user.pw_gid,
        )
        # Until the broker rereads the files, the old secret still works.
        assert not fleet.vehicle("bus-1").connack.is_failure

        broker.process.send_signal(signal.SIGHUP)
        # The reload checks every connection again: the old secret's is closed.
        assert old_connection.disconnected.wait(TIMEOUT_S)
        assert fleet.vehicle("bus-1").connack.is_failure
        assert not fleet.vehicle("bus-1", password=new).connack.is_failure
        # The others stay connected (the service account's hash has a new salt: same secret).
        assert not bus_2.disconnected.is_set() and not servers.disconnected.is_set()

        broker_credentials("revoke", "--vehicle=bus-2", paths=paths, owner=owner)
        broker.process.send_signal(signal.SIGHUP)
        assert bus_2.disconnected.wait(TIMEOUT_S)  # a revoked vehicle is put out at once
        assert fleet.vehicle("bus-2").connack.is_failure
        assert not servers.disconnected.is_set()
        assert broker.process.poll() is None, broker.log()
    finally:
        for client in fleet.clients:
            client.close()
        broker.stop()


# ----- the whole chain ------------------------------------------------------------------------


def test_the_ingest_keeps_a_vehicles_position_and_ignores_its_spoof(fleet, consumers, redis_client):
    """Vehicles over TLS, the real consumer in the shared group on the internal listener."""
    consumers.start(
        f"mqtt://127.0.0.1:{fleet.plain_port}",
        shared_group=SHARED_GROUP,
        client_id=f"databus-{fleet.root}-ingest-1",
    )
    thief = fleet.vehicle("bus-2")
    thief.subscribe(f"$share/{SHARED_GROUP}/{fleet.vehicle_root}/vehicle/+/+")
    now = int(time.time())

    def fix(latitude: float, seconds_ago: int) -> dict:
        return {"latitude": latitude, "longitude": -77.0, "timestamp": now - seconds_ago}

    assert fleet.vehicle("bus-1").publish(fleet.topic("bus-2"), fix(10.0, 30)).is_failure
    bus_1 = fleet.vehicle("bus-1")
    for n in range(10):
        bus_1.publish(fleet.topic("bus-1"), fix(38.0 + n / 100, 20 - n))

    def stored(vehicle_id: str):
        fields = redis_client.hgetall(keys.vehicle_position(vehicle_id))
        return position.from_redis(vehicle_id, fields) if fields else None

    wait_for(
        lambda: stored("bus-1") and stored("bus-1").latitude == pytest.approx(38.09),
        TIMEOUT_S,
        "bus-1's last position in hot state",
    )
    assert stored("bus-2") is None
    assert thief.received == []
