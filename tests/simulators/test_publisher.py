"""DevicePublisher against a real Mosquitto: contract messages, births, last-will, broker restarts."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import cast

import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from core.contract import Availability, AvailabilityState, GatewayBatch, Telemetry, Topics
from core.settings import MqttSettings, Settings
from simulators.publisher import DevicePublisher, Uplinks, run_simulator, simulate_main
from simulators.sensors import Reading, SensorFleet
from tests.fixtures.mosquitto import MosquittoBroker
from tests.helpers import eventually, unique_prefix
from twin.loader import parse_twin
from twin.twin import Twin

pytestmark = pytest.mark.mosquitto

T0 = 1_763_654_400_000


@dataclass(frozen=True)
class Received:
    topic: str
    payload: bytes
    retain: bool


class Collector:
    """A separate paho client with a persistent session that records everything under a prefix."""

    def __init__(self, broker: MosquittoBroker, topics: Topics, client_id: str | None = None) -> None:
        self.topics = topics
        self.messages: list[Received] = []
        self.lock = threading.Lock()
        self.subscribed = threading.Event()
        self.connects = 0
        self.client = paho.Client(
            CallbackAPIVersion.VERSION2,
            client_id=client_id or f"collector-{uuid.uuid4().hex[:8]}",
            clean_session=False,
        )
        self.client.reconnect_delay_set(cast(int, 0.05), cast(int, 0.2))  # paho takes float seconds
        self.client.on_connect = self._on_connect
        self.client.on_subscribe = lambda *_: self.subscribed.set()
        self.client.on_message = self._on_message
        self.client.connect(broker.host, broker.port, keepalive=10)
        self.client.loop_start()
        assert self.subscribed.wait(5), "collector did not subscribe"

    def _on_connect(self, client: paho.Client, *_: object) -> None:
        self.subscribed.clear()
        self.connects += 1
        client.subscribe(f"{self.topics.root}/#", qos=1)

    def _on_message(self, client: paho.Client, userdata: object, msg: paho.MQTTMessage) -> None:
        with self.lock:
            self.messages.append(Received(msg.topic, bytes(msg.payload), bool(msg.retain)))

    def on(self, topic: str) -> list[Received]:
        with self.lock:
            return [m for m in self.messages if m.topic == topic]

    def kind(self, kind: str) -> list[Received]:
        with self.lock:
            return [m for m in self.messages if (self.topics.parse(m.topic) or ("", ""))[0] == kind]

    def ids(self, kind: str) -> set[str]:
        """Device or gateway ids seen on topics of one kind."""
        with self.lock:
            parsed = [self.topics.parse(m.topic) for m in self.messages]
        return {p[1] for p in parsed if p is not None and p[0] == kind}

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture
def topics() -> Topics:
    return Topics(unique_prefix())


@pytest.fixture
def collector(mosquitto: MosquittoBroker, topics: Topics) -> Iterator[Collector]:
    c = Collector(mosquitto, topics)
    yield c
    c.close()


def make_publisher(broker: MosquittoBroker, topics: Topics, **mqtt: float) -> DevicePublisher:
    settings = MqttSettings(
        url=broker.url, reconnect_min_s=mqtt.get("min", 0.1), reconnect_max_s=mqtt.get("max", 1.0)
    )
    return DevicePublisher(
        settings, gateway_id=f"gw-{uuid.uuid4().hex[:6]}", topics=topics, batch_max_readings=3
    )


@pytest.fixture
def publisher(mosquitto: MosquittoBroker, topics: Topics) -> Iterator[DevicePublisher]:
    pub = make_publisher(mosquitto, topics)
    yield pub
    pub.stop(timeout=2)


def test_single_telemetry_arrives_and_follows_the_contract(
    publisher: DevicePublisher, collector: Collector, topics: Topics
) -> None:
    publisher.start(["dev-a"])
    for i in range(3):
        publisher.publish_reading("dev-a", {"co": 5.0 + i, "battery": 90.0}, ts=T0 + i)
    publisher.publish_reading("dev-a", {"co": 9.5})
    assert publisher.wait_all_published(5)
    wait_for(lambda: len(collector.on(topics.telemetry("dev-a"))) == 4)
    msgs = [Telemetry.model_validate_json(m.payload) for m in collector.on(topics.telemetry("dev-a"))]
    assert [m.seq for m in msgs] == [0, 1, 2, 3]
    assert [m.ts for m in msgs[:3]] == [T0, T0 + 1, T0 + 2]
    assert msgs[3].ts is not None and abs(msgs[3].ts - time.time() * 1000) < 10_000
    assert msgs[0].metrics == {"co": 5.0, "battery": 90.0}
    assert publisher.acked >= publisher.published == 6  # birth of dev-a, gateway birth, 4 readings
    with pytest.raises(ValueError):
        publisher.publish_reading("bad/id", {"co": 1.0})


def test_gateway_batches_are_split_and_validate(
    publisher: DevicePublisher, collector: Collector, topics: Topics
) -> None:
    publisher.start()
    readings = [Reading(f"dev-{i}", T0 + i, {"co": float(i)}) for i in range(7)]
    mids = publisher.publish_batch("gw-site-1", readings)
    assert len(mids) == 3  # batch_max_readings=3
    assert publisher.wait_all_published(5)
    wait_for(lambda: len(collector.on(topics.gateway_batch("gw-site-1"))) == 3)
    batches = [
        GatewayBatch.model_validate_json(m.payload) for m in collector.on(topics.gateway_batch("gw-site-1"))
    ]
    got = [r for b in batches for r in b.readings]
    assert [r.device_id for r in got] == [f"dev-{i}" for i in range(7)]
    assert [r.metrics["co"] for r in got] == [float(i) for i in range(7)]
    assert all(r.seq == 0 and r.ts == T0 + i for i, r in enumerate(got))


def test_births_are_retained_and_shutdown_marks_offline(
    mosquitto: MosquittoBroker, publisher: DevicePublisher, topics: Topics
) -> None:
    devices = ["dev-1", "dev-2", "dev-3"]
    publisher.start(devices)
    assert publisher.wait_connected(5) and publisher.wait_all_published(5)
    late = Collector(mosquitto, topics)  # subscribes after the births: only retained messages reach it
    try:
        for d in [*devices, publisher.gateway_id]:
            wait_for(lambda d=d: bool(late.on(topics.availability(d))))
            msg = late.on(topics.availability(d))[-1]
            assert msg.retain
            avail = Availability.model_validate_json(msg.payload)
            assert avail.state == AvailabilityState.ONLINE and avail.reason == "birth" and avail.ts
    finally:
        late.close()
    assert publisher.stop(timeout=5)
    after = Collector(mosquitto, topics)
    try:
        for d in [*devices, publisher.gateway_id]:
            wait_for(lambda d=d: bool(after.on(topics.availability(d))))
            avail = Availability.model_validate_json(after.on(topics.availability(d))[-1].payload)
            assert avail.state == AvailabilityState.OFFLINE and avail.reason == "shutdown"
    finally:
        after.close()


def test_last_will_on_a_dropped_connection_then_birth_again(
    publisher: DevicePublisher, collector: Collector, topics: Topics
) -> None:
    publisher.start()
    assert publisher.wait_connected(5) and publisher.wait_all_published(5)
    topic = topics.availability(publisher.gateway_id)
    sock = publisher.client.socket()
    assert isinstance(sock, socket.socket)
    sock.shutdown(socket.SHUT_RDWR)  # the network drops: no DISCONNECT reaches the broker

    def states() -> list[tuple[str, str | None]]:
        return [
            (a.state.value, a.reason)
            for a in map(Availability.model_validate_json, map(_payload, collector.on(topic)))
        ]

    wait_for(lambda: ("offline", "last-will") in states() and states()[-1] == ("online", "birth"))
    assert states()[0] == ("online", "birth")


def test_messages_published_while_the_broker_is_down_arrive_after_it_returns(
    mosquitto: MosquittoBroker, topics: Topics
) -> None:
    """paho 2.2 keeps QoS 1 messages queued while disconnected and sends them after reconnecting."""
    # the publisher retries every 3 s, so the collector is back and subscribed before the resend
    pub = make_publisher(mosquitto, topics, min=3.0, max=3.0)
    collector = Collector(mosquitto, topics)
    topic = topics.telemetry("dev-x")

    def seqs() -> set[int | None]:
        return {Telemetry.model_validate_json(m.payload).seq for m in collector.on(topic)}

    try:
        pub.start(["dev-x"])
        assert pub.wait_connected(5)
        pub.publish_reading("dev-x", {"co": 0.0}, ts=T0)
        wait_for(lambda: seqs() == {0})
        mosquitto.stop()
        for i in range(1, 21):  # racing the client noticing the loss: some go into a dead socket
            pub.publish_reading("dev-x", {"co": float(i)}, ts=T0 + i)
        wait_for(lambda: not pub.connected)
        for i in range(21, 61):  # surely offline: paho answers MQTT_ERR_NO_CONN and keeps them queued
            pub.publish_reading("dev-x", {"co": float(i)}, ts=T0 + i)
        assert pub.pending >= 40 and pub.dropped == 0
        mosquitto.start()
        wait_for(lambda: collector.connects >= 2 and collector.subscribed.is_set())
        assert pub.wait_all_published(15), f"{pub.pending} messages never acknowledged"
        wait_for(lambda: seqs() >= {0, *range(21, 61)}, timeout=10)
        # 1-20 arrive too, unless the dying broker acknowledged one it had not yet delivered: only a
        # broker that persists its sessions can keep that one (the fixture's Mosquitto cannot as root)
        assert seqs() <= set(range(61))
    finally:
        pub.stop(timeout=2)
        collector.close()


def sim_settings(broker: MosquittoBroker, topics: Topics, **simulator: object) -> Settings:
    """Settings for the simulator against the test broker, with client ids no other test uses."""
    return Settings(
        mqtt={
            "url": broker.url,
            "topic_prefix": topics.prefix,
            "reconnect_min_s": 0.1,
            "reconnect_max_s": 1.0,
        },
        simulator={"event_probability": 0.0, "client_id": f"sim-{uuid.uuid4().hex[:8]}", **simulator},
    )


async def test_run_simulator_publishes_the_twin_until_stopped(
    mosquitto: MosquittoBroker, collector: Collector, topics: Topics
) -> None:
    twin = Twin(parse_twin(TWIN, "sim.yaml"))
    for batch in (False, True):
        settings = sim_settings(mosquitto, topics, interval_s=0.2, gateway_batch=batch)
        stop = asyncio.Event()
        task = asyncio.create_task(run_simulator(settings, twin, stop, seed=1))
        kind = "gateway" if batch else "telemetry"

        def enough(kind: str = kind) -> bool:
            return len(collector.kind(kind)) >= 6

        await eventually(enough, timeout=10, what=f"{kind} messages")
        stop.set()
        await asyncio.wait_for(task, timeout=10)
    assert collector.ids("telemetry") == {"co-1", "mg-1"}  # the valve reports no metrics
    batches = {
        gw: [GatewayBatch.model_validate_json(m.payload) for m in collector.on(topics.gateway_batch(gw))]
        for gw in collector.ids("gateway")
    }
    direct = f"{settings.simulator.client_id}-direct"
    assert set(batches) == {"gw-s1", direct}  # the twin's gateway, and the devices connecting directly
    assert {r.device_id for b in batches["gw-s1"] for r in b.readings} == {"mg-1"}
    assert {r.device_id for b in batches[direct] for r in b.readings} == {"co-1"}

    def valve_states() -> list[AvailabilityState]:
        return [
            Availability.model_validate_json(m.payload).state
            for m in collector.on(topics.availability("valve-1"))
        ]

    # every device, metrics or not, gets a birth on start and an offline message on shutdown
    await eventually(lambda: valve_states()[-2:] == [AvailabilityState.ONLINE, AvailabilityState.OFFLINE])


async def test_availability_only_for_the_twins_gateways_and_devices(
    mosquitto: MosquittoBroker, collector: Collector, topics: Topics
) -> None:
    """The simulator's own clients are no devices: only twin gateways and devices get births and wills."""
    twin = Twin(parse_twin(TWIN, "sim.yaml"))
    settings = sim_settings(mosquitto, topics, interval_s=0.2)
    stop = asyncio.Event()
    task = asyncio.create_task(run_simulator(settings, twin, stop))
    await eventually(lambda: len(collector.kind("telemetry")) >= 4, timeout=10, what="telemetry")
    stop.set()
    await asyncio.wait_for(task, timeout=10)

    def states(ident: str) -> list[tuple[str, str | None]]:
        msgs = map(Availability.model_validate_json, map(_payload, collector.on(topics.availability(ident))))
        return [(a.state.value, a.reason) for a in msgs]

    # each client flushed its shutdown messages to the broker before run_simulator returned; they reach
    # the collector through the broker in their own time, the direct client's apart from the gateway's
    def shut_down(ident: str) -> Callable[[], bool]:
        return lambda: states(ident)[-1:] == [("offline", "shutdown")]

    for ident in ("gw-s1", "co-1", "valve-1"):
        await eventually(shut_down(ident), what=f"{ident} shutdown")
    assert collector.ids("availability") <= set(twin.gateways) | set(twin.devices)
    assert states("gw-s1") == [("online", "birth"), ("offline", "shutdown")]
    for device in ("co-1", "valve-1"):  # connecting directly: each device announces itself
        assert states(device) == [("online", "birth"), ("offline", "shutdown")], device
    assert states("mg-1") == []  # behind gw-s1: the gateway's birth and last-will stand for it


async def test_a_gateway_that_dies_leaves_its_retained_last_will(
    mosquitto: MosquittoBroker, collector: Collector, topics: Topics
) -> None:
    twin = Twin(parse_twin(TWIN, "sim.yaml"))
    settings = sim_settings(mosquitto, topics)
    uplinks = Uplinks.for_twin(settings, twin, SensorFleet(twin))
    gateway, direct = uplinks.clients["gw-s1"], uplinks.clients[f"{settings.simulator.client_id}-direct"]
    assert uplinks.route == {"mg-1": gateway, "co-1": direct, "valve-1": direct}
    await uplinks.start()
    try:
        assert gateway.wait_connected(5) and gateway.wait_all_published(5)
        gateway.client.loop_stop()  # no network thread: it cannot reconnect and send a new birth
        sock = gateway.client.socket()
        assert isinstance(sock, socket.socket)
        sock.shutdown(socket.SHUT_RDWR)  # the gateway loses power: no DISCONNECT reaches the broker
        topic = topics.availability("gw-s1")
        await eventually(lambda: len(collector.on(topic)) >= 2, timeout=10, what="the last-will")
        late = Collector(mosquitto, topics)  # sees only what the broker retained
        try:
            await eventually(lambda: bool(late.on(topic)), what="the retained availability")
            kept = late.on(topic)[-1]
            will = Availability.model_validate_json(kept.payload)
            assert kept.retain and will.state == AvailabilityState.OFFLINE and will.reason == "last-will"
            assert late.ids("availability") <= set(twin.gateways) | set(twin.devices)
        finally:
            late.close()
        assert direct.connected  # the other client is not affected
    finally:
        await uplinks.stop()


def test_uplinks_give_each_gateway_its_own_client_id(mosquitto: MosquittoBroker, topics: Topics) -> None:
    twin = Twin(parse_twin(TWIN, "sim.yaml"))
    settings = sim_settings(mosquitto, topics)
    prefix = settings.simulator.client_id
    uplinks = Uplinks.for_twin(settings, twin, SensorFleet(twin))
    ids = {gw: pub.client._client_id.decode() for gw, pub in uplinks.clients.items()}
    assert ids == {"gw-s1": f"{prefix}-gw-s1", f"{prefix}-direct": f"{prefix}-direct"}
    assert uplinks.clients["gw-s1"].announce and not uplinks.clients[f"{prefix}-direct"].announce
    assert uplinks.births == {"gw-s1": [], f"{prefix}-direct": ["valve-1", "co-1"]}


def test_simulate_main_runs_for_the_duration(
    mosquitto: MosquittoBroker, collector: Collector, topics: Topics
) -> None:
    twin = Twin(parse_twin(TWIN, "sim.yaml"))
    settings = sim_settings(mosquitto, topics, interval_s=0.1)
    started = time.monotonic()
    assert simulate_main(settings, twin, 0.6, seed=2) == 0
    assert 0.5 < time.monotonic() - started < 5
    wait_for(lambda: len(collector.on(topics.telemetry("co-1"))) >= 3)
    seqs = [Telemetry.model_validate_json(m.payload).seq for m in collector.on(topics.telemetry("co-1"))]
    assert seqs == list(range(len(seqs)))  # in order, no gap


TWIN = """\
version: 1
name: t
sites:
  - id: s1
    name: 社区
    location: {lat: 22.72, lon: 114.05}
    gateways:
      - {id: gw-s1, name: 社区LoRa网关}
    spaces:
      - id: septic
        name: 化粪池
        kind: septic_tank
        confined: true
        devices:
          - {id: mg-1, kind: multi_gas, gateway: gw-s1}
          - {id: valve-1, kind: valve}
      - id: garage
        name: 车库
        kind: basement_garage
        devices:
          - {id: co-1, kind: co_sensor}
"""


def _payload(m: Received) -> bytes:
    return m.payload


def wait_for(check: object, timeout: float = 5.0) -> None:
    """Poll a condition from a synchronous test."""
    assert callable(check)
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        time.sleep(0.02)
