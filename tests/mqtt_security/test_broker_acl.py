"""The generated password file and ACL in a real Mosquitto (allow_anonymous false)."""

from __future__ import annotations

import queue
import ssl
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from pydantic import SecretStr

from core.contract import Topics, now_ms
from core.settings import MqttAuthSettings, MqttSettings
from safetwin import mqttacl
from simulators.gateway import DevicePublisher
from simulators.sensors import Reading
from tests.fixtures.mosquitto import MosquittoBroker, TlsFiles, _require_mosquitto
from tests.helpers import eventually, unique_prefix
from tests.ingest.test_end_to_end import make_settings, running
from tests.mqtt_security.test_credentials import TWIN, twin

pytestmark = [pytest.mark.mosquitto]

SECRET = "test-device-secret"
WORKER_PW = "test-worker-password"


class Client:
    """A paho client that records what it receives and how its connection was answered."""

    def __init__(self, broker: MosquittoBroker, user: str | None, password: str | None) -> None:
        self.messages: queue.Queue[tuple[str, bytes]] = queue.Queue()
        self.connack: queue.Queue[str] = queue.Queue()
        self.client = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"t-{uuid.uuid4().hex[:8]}")
        if user is not None:
            self.client.username_pw_set(user, password)
        if broker.tls is not None:
            self.client.tls_set(ca_certs=str(broker.tls.ca), tls_version=ssl.PROTOCOL_TLS_CLIENT)
        self.client.on_connect = lambda _c, _u, _f, rc, _p: self.connack.put(str(rc))
        self.client.on_message = lambda _c, _u, m: self.messages.put((m.topic, bytes(m.payload)))
        self.ended = threading.Event()  # a PUBACK or a disconnect: the broker has dealt with the message
        self.client.on_publish = lambda *_a: self.ended.set()
        self.client.on_disconnect = lambda *_a: self.ended.set()
        self.client.connect(broker.host, broker.port)
        self.client.loop_start()
        self.answer = self.connack.get(timeout=10)

    def subscribe(self, topic: str) -> None:
        done: queue.Queue[bool] = queue.Queue()
        self.client.on_subscribe = lambda *_a: done.put(True)
        self.client.subscribe(topic, qos=1)
        done.get(timeout=10)

    def publish(self, topic: str, payload: bytes) -> None:
        self.client.publish(topic, payload, qos=1).wait_for_publish(10)

    def forge(self, topic: str, payload: bytes) -> None:
        """Publish where this user may not; Mosquitto drops it (and 2.0.11 and older also disconnect)."""
        self.ended.clear()
        self.client.publish(topic, payload, qos=1)
        assert self.ended.wait(10), "the broker neither acknowledged nor dropped the connection"
        self.close()

    def next(self) -> tuple[str, bytes]:
        return self.messages.get(timeout=10)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def _auth() -> MqttAuthSettings:
    return MqttAuthSettings(device_secret=SecretStr(SECRET), worker_password=SecretStr(WORKER_PW))


def _broker(tmp_path: Path, prefix: str, tls: bool = False) -> MosquittoBroker:
    _require_mosquitto()
    passwd, acl = mqttacl.generate(twin(), Topics(prefix), _auth(), True, tmp_path / "auth")
    broker = MosquittoBroker(
        workdir=tmp_path / "broker",
        password_file=passwd,
        acl_file=acl,
        tls=TlsFiles.make(tmp_path / "tls") if tls else None,
    )
    broker.workdir.mkdir()
    broker.start()
    return broker


@pytest.fixture
def prefix() -> str:
    return unique_prefix()


@pytest.fixture
def broker(tmp_path: Path, prefix: str) -> Iterator[MosquittoBroker]:
    b = _broker(tmp_path, prefix)
    yield b
    b.stop()


def device(broker: MosquittoBroker, device_id: str) -> Client:
    c = Client(broker, device_id, mqttacl.device_password(SECRET, device_id))
    assert c.answer == "Success", c.answer
    return c


def worker(broker: MosquittoBroker) -> Client:
    c = Client(broker, mqttacl.WORKER_USER, WORKER_PW)
    assert c.answer == "Success", c.answer
    return c


def test_a_device_cannot_publish_as_another(broker: MosquittoBroker, prefix: str) -> None:
    t = Topics(prefix)
    ingest = worker(broker)
    ingest.subscribe(f"{t.root}/#")
    for topic in (t.telemetry("co-2"), t.availability("co-2"), t.command("fan-1"), t.state("fan-1")):
        device(broker, "co-1").forge(topic, b"forged")
    co1 = device(broker, "co-1")
    try:
        co1.publish(t.telemetry("co-1"), b"own")  # routed after the refused ones would have been
        assert ingest.next() == (t.telemetry("co-1"), b"own")
        assert ingest.messages.empty()
    finally:
        ingest.close()
        co1.close()


def test_a_gateway_speaks_for_its_devices_only(broker: MosquittoBroker, prefix: str) -> None:
    t = Topics(prefix)
    ingest = worker(broker)
    ingest.subscribe(f"{t.root}/#")
    device(broker, "gw-1").forge(t.availability("co-1"), b"offline")  # not behind gw-1
    device(broker, "gw-1").forge(t.gateway_batch("gw-2"), b"{}")
    gw = device(broker, "gw-1")
    try:
        gw.publish(t.availability("gas-9"), b"offline")
        gw.publish(t.gateway_batch("gw-1"), b"{}")
        assert ingest.next() == (t.availability("gas-9"), b"offline")
        assert ingest.next() == (t.gateway_batch("gw-1"), b"{}")
        assert ingest.messages.empty()
    finally:
        ingest.close()
        gw.close()


def test_a_device_reads_only_its_own_commands(broker: MosquittoBroker, prefix: str) -> None:
    t = Topics(prefix)
    ingest, fan1, fan2 = worker(broker), device(broker, "fan-1"), device(broker, "fan-2")
    try:
        fan2.subscribe(f"{t.root}/command/+")  # a wildcard does not widen what it may read
        fan2.subscribe(t.command("fan-1"))
        fan1.subscribe(t.command("fan-1"))
        ingest.publish(t.command("fan-1"), b"for fan-1")
        ingest.publish(t.command("fan-2"), b"for fan-2")
        assert fan1.next() == (t.command("fan-1"), b"for fan-1")
        assert fan2.next() == (t.command("fan-2"), b"for fan-2")
        assert fan2.messages.empty()
    finally:
        for c in (ingest, fan1, fan2):
            c.close()


def test_a_forged_command_never_reaches_the_device(broker: MosquittoBroker, prefix: str) -> None:
    t = Topics(prefix)
    wrong = Client(broker, "fan-1", mqttacl.device_password("guessed-secret", "fan-1"))
    anonymous = Client(broker, None, None)
    as_worker = Client(broker, mqttacl.WORKER_USER, "guess")
    for refused in (wrong, anonymous, as_worker):
        assert refused.answer != "Success"
        refused.close()
    ingest, fan1 = worker(broker), device(broker, "fan-1")
    try:
        fan1.subscribe(t.command("fan-1"))
        device(broker, "fan-2").forge(t.command("fan-1"), b"forged by another device")
        api_pw = mqttacl.service_passwords(_auth(), True)[mqttacl.API_USER]
        Client(broker, mqttacl.API_USER, api_pw).forge(t.command("fan-1"), b"forged by the API user")
        ingest.publish(t.command("fan-1"), b"real")
        assert fan1.next() == (t.command("fan-1"), b"real")
        assert fan1.messages.empty()
    finally:
        ingest.close()
        fan1.close()


def test_worker_shared_subscription_is_allowed(broker: MosquittoBroker, prefix: str) -> None:
    t = Topics(prefix)
    ingest, co1 = worker(broker), device(broker, "co-1")
    try:
        ingest.subscribe(f"$share/workers/{t.root}/telemetry/+")
        co1.publish(t.telemetry("co-1"), b"one")
        assert ingest.next() == (t.telemetry("co-1"), b"one")
    finally:
        ingest.close()
        co1.close()


async def test_safetwin_over_mqtts_with_generated_credentials(tmp_path: Path, prefix: str) -> None:
    """The worker logs in with its password, a device with its derived one, over TLS."""
    twin_file = tmp_path / "acl-twin.yaml"
    twin_file.write_text(TWIN, encoding="utf-8")
    b = _broker(tmp_path, prefix, tls=True)
    assert b.tls is not None
    try:
        settings = make_settings(
            tmp_path,
            b.url,
            mqtt={"username": "safetwin", "password": WORKER_PW, "ca_file": b.tls.ca, "topic_prefix": prefix},
        )
        settings.twin.path = twin_file
        async with running(settings) as app:
            co1 = device(b, "co-1")
            try:
                co1.forge(app.topics.telemetry("co-2"), b'{"metrics": {"co": 99.0}}')
                co1 = device(b, "co-1")
                co1.publish(app.topics.telemetry("co-1"), b'{"metrics": {"co": 13.5}}')
                await eventually(lambda: "co" in app.live.view("co-1").values, what="a reading over mqtts")
            finally:
                co1.close()
            assert app.live.view("co-1").values["co"].value == 13.5
            assert "co" not in app.live.view("co-2").values
            assert "co" not in app.live.view("co-2").values
    finally:
        b.stop()


@pytest.mark.parametrize("per_device", [False, True])
def test_the_simulator_connects_with_its_account_or_as_each_device(
    broker: MosquittoBroker, prefix: str, per_device: bool
) -> None:
    """The simulated fleet's client, logged in as `safetwin-sim` or with a device's own password."""
    t = Topics(prefix)
    if per_device:
        user, password = "gw-1", mqttacl.device_password(SECRET, "gw-1")
    else:
        user, password = (
            mqttacl.SIMULATOR_USER,
            mqttacl.service_passwords(_auth(), True)[mqttacl.SIMULATOR_USER],
        )
    mqtt = MqttSettings(url=broker.url, username=user, password=SecretStr(password), topic_prefix=prefix)
    ingest = worker(broker)
    ingest.subscribe(f"{t.root}/#")
    sim = DevicePublisher(mqtt, gateway_id="gw-1", client_id=f"sim-{prefix}", topics=t)
    try:
        sim.start(["gas-9"])  # retained births of the gateway and its device
        assert sim.wait_connected(10)
        sim.publish_batch("gw-1", [Reading("gas-9", now_ms(), {"co": 1.0})])
        assert sim.wait_all_published(10)
        received = {ingest.next()[0] for _ in range(3)}
        assert received == {t.availability("gw-1"), t.availability("gas-9"), t.gateway_batch("gw-1")}
    finally:
        sim.stop()
        ingest.close()
