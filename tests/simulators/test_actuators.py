"""Simulated actuators: the answer to each command, alone and through a real Mosquitto."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import orjson
import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from core.contract import AckStatus, ActuatorState, CommandAck, Topics, now_ms
from core.settings import MqttSettings
from simulators.actuators import ActuatorSim, actuators_of
from simulators.command_link import CommandLink
from simulators.faults import Fail, NoAirflow, NoAnswer, Slow
from simulators.physics import Physics
from tests.fixtures.mosquitto import MosquittoBroker
from tests.helpers import unique_prefix
from twin.loader import parse_twin
from twin.twin import Twin

T0 = 1_763_683_200_000

TWIN = """\
version: 1
name: t
sites:
  - id: s1
    name: s
    location: {lat: 22.72, lon: 114.05}
    spaces:
      - id: garage
        name: garage
        kind: basement_garage
        devices:
          - {id: fan-1, kind: fan}
          - {id: spk-1, kind: speaker}
          - {id: valve-1, kind: valve}
          - {id: relay-1, kind: relay}
          - {id: co-1, kind: co_sensor}
"""


def command(action: str = "set", expires: int | None = None, cid: str | None = None, **params: Any) -> bytes:
    body: dict[str, Any] = {
        "v": 1,
        "correlation_id": cid or uuid.uuid4().hex,
        "action": action,
        "params": params,
        "issued_ts": now_ms(),
        "issued_by": "user:test",
    }
    if expires is not None:
        body["expires_ts"] = expires
    return orjson.dumps(body)


@pytest.fixture
def twin() -> Twin:
    return Twin(parse_twin(TWIN))


@pytest.fixture
def devices(twin: Twin) -> dict[str, ActuatorSim]:
    return actuators_of(twin, Physics(twin, T0))


def eventually(check: Any, timeout: float = 10.0) -> None:
    """Poll a condition from a plain test (paho runs its own thread)."""
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.02)


def statuses(answer: Any) -> list[AckStatus]:
    return [a.status for a in answer.acks]


def test_only_actuators_are_simulated_and_start_in_a_safe_state(devices: dict[str, ActuatorSim]) -> None:
    assert set(devices) == {"fan-1", "spk-1", "valve-1", "relay-1"}
    assert devices["fan-1"].state == {"on": False, "speed": 3, "rpm": 0}
    assert devices["valve-1"].state == {"open": True}


def test_a_fan_command_is_delivered_succeeds_and_really_ventilates(devices: dict[str, ActuatorSim]) -> None:
    fan = devices["fan-1"]
    assert fan.physics is not None
    before = fan.physics.spaces["garage"].air_changes_per_h()
    answer = fan.handle(command(on=True, speed=2), now_ms(), T0)
    assert answer is not None and statuses(answer) == [AckStatus.DELIVERED, AckStatus.SUCCEEDED]
    assert answer.state is not None and answer.state.state == {"on": True, "speed": 2, "rpm": 1088}
    assert fan.physics.spaces["garage"].air_changes_per_h() > before


def test_a_repeated_correlation_id_is_answered_again_without_acting_twice(
    devices: dict[str, ActuatorSim],
) -> None:
    fan = devices["fan-1"]
    payload = command(on=True, cid="same-id-123")
    first = fan.handle(payload, now_ms(), T0)
    again = fan.handle(payload, now_ms(), T0)
    assert first is not None and again is not None
    assert statuses(again) == statuses(first) and again.state is None
    assert fan.actuations == 1


def test_an_expired_command_is_ignored(devices: dict[str, ActuatorSim]) -> None:
    fan = devices["fan-1"]
    assert fan.handle(command(on=True, expires=now_ms() - 1000), now_ms(), T0) is None
    assert fan.state["on"] is False and fan.actuations == 0


@pytest.mark.parametrize(
    ("device", "payload", "detail"),
    [
        ("fan-1", command(on="maybe"), "params.on"),
        ("fan-1", command(on=True, speed=7), "params.speed"),
        ("fan-1", command("play", text="hi"), "does not understand 'play'"),
        ("spk-1", command("play", volume=50), "give text or preset"),
        ("valve-1", command(open=True, extra=1), "params.extra"),
    ],
)
def test_bad_commands_are_rejected_with_the_reason(
    devices: dict[str, ActuatorSim], device: str, payload: bytes, detail: str
) -> None:
    answer = devices[device].handle(payload, now_ms(), T0)
    assert answer is not None and statuses(answer) == [AckStatus.REJECTED]
    assert detail in (answer.acks[0].detail or "")
    assert devices[device].actuations == 0


def test_speaker_valve_and_relay_report_their_state(devices: dict[str, ActuatorSim]) -> None:
    spk = devices["spk-1"].handle(command("play", preset="helmet", volume=90), now_ms(), T0)
    assert spk is not None and spk.state is not None
    assert spk.state.state == {"playing": True, "preset": "helmet", "volume": 90}
    assert devices["spk-1"].tick(T0 + 1000, now_ms()) is None  # still speaking
    done = devices["spk-1"].tick(T0 + 60_000, now_ms())
    assert done is not None and done.state == {"playing": False}
    valve = devices["valve-1"].handle(command(open=False), now_ms(), T0)
    relay = devices["relay-1"].handle(command(on=True), now_ms(), T0)
    assert valve is not None and valve.state is not None and valve.state.state == {"open": False}
    assert relay is not None and relay.state is not None and relay.state.state == {"on": True}


def test_an_offline_actuator_hears_nothing(devices: dict[str, ActuatorSim]) -> None:
    relay = devices["relay-1"]
    relay.offline = True
    assert relay.handle(command(on=True), now_ms(), T0) is None
    relay.offline = False
    back = relay.handle(command(on=True), now_ms(), T0)
    assert back is not None and statuses(back) == [AckStatus.DELIVERED, AckStatus.SUCCEEDED]


def test_injected_faults_change_the_answer(devices: dict[str, ActuatorSim]) -> None:
    fan = devices["fan-1"]
    assert fan.physics is not None
    air = fan.physics.spaces["garage"]
    fan.set_fault(NoAnswer(type="no_answer"))
    assert fan.handle(command(on=True), now_ms(), T0) is None
    fan.set_fault(Fail(type="fail", detail="overload"))
    failed = fan.handle(command(on=True), now_ms(), T0)
    assert failed is not None and statuses(failed) == [AckStatus.DELIVERED, AckStatus.FAILED]
    assert failed.acks[1].detail == "overload" and fan.state["on"] is False
    fan.set_fault(NoAirflow(type="no_airflow"))
    natural = air.air_changes_per_h()
    ok = fan.handle(command(on=True), now_ms(), T0)
    assert ok is not None and statuses(ok) == [AckStatus.DELIVERED, AckStatus.SUCCEEDED]
    assert fan.state["on"] is True and air.air_changes_per_h() == natural
    fan.set_fault(Slow(type="slow", delay_s=2))
    slow = fan.handle(command(on=False), now_ms(), T0)
    assert slow is not None and slow.delay_s == 2 and slow.state is None
    assert fan.state["on"] is True  # still running: a slow fan changes only when its delay is over


# --- through a real broker ---------------------------------------------------------------------


class Recorder:
    """A paho client that records acks and states under a prefix and can send commands."""

    def __init__(self, broker: MosquittoBroker, topics: Topics) -> None:
        self.topics = topics
        self.messages: list[tuple[str, bytes, bool]] = []
        self.lock = threading.Lock()
        subscribed = threading.Event()
        self.client = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"rec-{uuid.uuid4().hex[:8]}")
        self.client.on_subscribe = lambda *_: subscribed.set()
        self.client.on_message = self._on_message
        self.client.connect(broker.host, broker.port)
        self.client.subscribe([(f"{topics.root}/ack/+", 1), (f"{topics.root}/state/+", 1)])
        self.client.loop_start()
        assert subscribed.wait(5)

    def _on_message(self, client: paho.Client, userdata: object, msg: paho.MQTTMessage) -> None:
        with self.lock:
            self.messages.append((msg.topic, bytes(msg.payload), bool(msg.retain)))

    def acks(self, device: str) -> list[CommandAck]:
        with self.lock:
            return [
                CommandAck.model_validate_json(p) for t, p, _ in self.messages if t == self.topics.ack(device)
            ]

    def states(self, device: str) -> list[tuple[ActuatorState, bool]]:
        with self.lock:
            return [
                (ActuatorState.model_validate_json(p), r)
                for t, p, r in self.messages
                if t == self.topics.state(device)
            ]

    def send(self, device: str, payload: bytes) -> None:
        self.client.publish(self.topics.command(device), payload, qos=1).wait_for_publish(5)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture
def link(mosquitto: MosquittoBroker, devices: dict[str, ActuatorSim]) -> Iterator[CommandLink]:
    topics = Topics(unique_prefix())
    settings = MqttSettings(url=mosquitto.url, topic_prefix=topics.prefix)
    lk = CommandLink(settings, devices, lambda: T0, client_id="sim-test", topics=topics)
    assert lk.start()
    yield lk
    lk.stop()


@pytest.fixture
def recorder(mosquitto: MosquittoBroker, link: CommandLink) -> Iterator[Recorder]:
    rec = Recorder(mosquitto, link.topics)
    yield rec
    rec.close()


@pytest.mark.mosquitto
def test_over_mqtt_acks_come_in_order_and_state_is_retained(
    mosquitto: MosquittoBroker, link: CommandLink, recorder: Recorder
) -> None:
    # the recorder subscribed after the link published the initial states: they reach it as retained
    eventually(lambda: len(recorder.states("valve-1")) == 1)
    assert recorder.states("valve-1")[0][1] is True
    recorder.send("fan-1", command(on=True, speed=3, cid="fan-on-0001"))
    eventually(lambda: len(recorder.acks("fan-1")) == 2)
    assert [a.status for a in recorder.acks("fan-1")] == [AckStatus.DELIVERED, AckStatus.SUCCEEDED]
    assert {a.correlation_id for a in recorder.acks("fan-1")} == {"fan-on-0001"}
    eventually(lambda: any(s.state.get("on") for s, _ in recorder.states("fan-1")))
    late = Recorder(mosquitto, link.topics)  # a newcomer learns the fan runs from the retained state
    try:
        eventually(lambda: len(late.states("fan-1")) == 1)
        state, retained = late.states("fan-1")[0]
        assert retained and state.state == {"on": True, "speed": 3, "rpm": 1450}
    finally:
        late.close()


@pytest.mark.mosquitto
def test_over_mqtt_retries_expiry_and_rejections(link: CommandLink, recorder: Recorder) -> None:
    retry = command(on=True, cid="retry-0001")
    recorder.send("fan-1", retry)
    recorder.send("fan-1", retry)
    recorder.send("fan-1", command(on=False, expires=now_ms() - 5000, cid="expired-01"))
    recorder.send("relay-1", command(on="yes please", cid="bad-params-1"))
    eventually(lambda: len(recorder.acks("relay-1")) == 1)
    eventually(lambda: len(recorder.acks("fan-1")) == 4)
    time.sleep(0.3)  # let anything wrongly sent for the expired command arrive before looking
    assert [a.correlation_id for a in recorder.acks("fan-1")] == ["retry-0001"] * 4
    assert link.actuators["fan-1"].actuations == 1 and link.actuators["fan-1"].state["on"] is True
    rejected = recorder.acks("relay-1")[0]
    assert rejected.status == AckStatus.REJECTED and "params.on" in (rejected.detail or "")


@pytest.mark.mosquitto
def test_over_mqtt_a_silent_fan_says_nothing_and_a_slow_one_answers_late(
    link: CommandLink, recorder: Recorder
) -> None:
    link.actuators["fan-1"].set_fault(NoAnswer(type="no_answer"))
    link.actuators["relay-1"].set_fault(Slow(type="slow", delay_s=1.5))
    recorder.send("fan-1", command(on=True, cid="silent-001"))
    recorder.send("relay-1", command(on=True, cid="slow-00001"))
    eventually(lambda: len(recorder.acks("relay-1")) == 1)
    assert link.actuators["relay-1"].state == {"on": False}  # delivered, not yet switched
    eventually(lambda: len(recorder.acks("relay-1")) == 2)
    first, second = recorder.acks("relay-1")
    assert (first.status, second.status) == (AckStatus.DELIVERED, AckStatus.SUCCEEDED)
    eventually(lambda: {"on": True} in [s.state for s, _ in recorder.states("relay-1")])
    assert recorder.acks("fan-1") == [] and link.commands == 2
