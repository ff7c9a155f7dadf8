"""Scale mode: exactly the asked number of readings, single or batched, valid on the contract."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator

import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from core.contract import GatewayBatch, Telemetry, Topics
from core.settings import MqttSettings
from simulators.scale import ScalePlan, ScaleRun, scale_devices
from tests.fixtures.mosquitto import MosquittoBroker
from tests.helpers import unique_prefix
from twin.loader import parse_twin
from twin.twin import Twin

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
          - {id: co-1, kind: co_sensor}
          - {id: th-1, kind: temp_humidity}
          - {id: fan-1, kind: fan}
"""


class Counter:
    """Counts readings under a prefix, parsing every message against the contract."""

    def __init__(self, broker: MosquittoBroker, topics: Topics) -> None:
        self.topics = topics
        self.readings: list[tuple[str, dict[str, float]]] = []
        self.lock = threading.Lock()
        ready = threading.Event()
        self.client = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"count-{uuid.uuid4().hex[:8]}")
        self.client.on_subscribe = lambda *_: ready.set()
        self.client.on_message = self._on_message
        self.client.connect(broker.host, broker.port)
        self.client.subscribe(f"{topics.root}/#", qos=1)
        self.client.loop_start()
        assert ready.wait(5)

    def _on_message(self, client: paho.Client, userdata: object, msg: paho.MQTTMessage) -> None:
        kind, ident = self.topics.parse(msg.topic) or ("", "")
        with self.lock:
            if kind == "telemetry":
                self.readings.append((ident, Telemetry.model_validate_json(msg.payload).metrics))
            elif kind == "gateway":
                batch = GatewayBatch.model_validate_json(msg.payload)
                self.readings.extend((r.device_id, r.metrics) for r in batch.readings)

    def wait_for(self, n: int, timeout: float = 30.0) -> list[tuple[str, dict[str, float]]]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if len(self.readings) >= n:
                    break
            time.sleep(0.02)
        time.sleep(0.2)  # anything beyond n would arrive now
        with self.lock:
            return list(self.readings)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture
def counter(mosquitto: MosquittoBroker) -> Iterator[Counter]:
    c = Counter(mosquitto, Topics(unique_prefix()))
    yield c
    c.close()


def test_devices_come_from_the_twin_first_then_synthetic_ones() -> None:
    twin = Twin(parse_twin(TWIN))
    assert scale_devices(twin, 4) == [
        ("co-1", "co"),
        ("th-1", "temperature"),
        ("scale-000001", "co"),
        ("scale-000002", "co"),
    ]
    assert scale_devices(None, 1) == [("scale-000001", "co")]


def test_a_plan_needs_a_bound_and_takes_the_smaller_one() -> None:
    assert ScalePlan(devices=10, rate=100, count=50, duration_s=10).total() == 50
    assert ScalePlan(devices=10, rate=100, duration_s=2).total() == 200
    with pytest.raises(ValueError, match="bound"):
        ScalePlan(devices=10, rate=100).total()


@pytest.mark.mosquitto
@pytest.mark.parametrize("batch", [0, 7])
def test_exactly_count_readings_arrive_and_follow_the_contract(
    mosquitto: MosquittoBroker, counter: Counter, batch: int
) -> None:
    twin = Twin(parse_twin(TWIN))
    settings = MqttSettings(url=mosquitto.url, topic_prefix=counter.topics.prefix)
    plan = ScalePlan(devices=5, rate=2000, batch=batch, count=103)
    result = ScaleRun(settings, plan, scale_devices(twin, 5), client_id=f"scale-{batch}").run(progress=False)
    assert result.readings == 103 and result.acked == result.messages and result.dropped == 0
    assert result.messages == (103 if batch == 0 else 15)  # 14 batches of 7 and one of 5
    got = counter.wait_for(103)
    assert len(got) == 103
    assert {d for d, _ in got} == {"co-1", "th-1", "scale-000001", "scale-000002", "scale-000003"}
    assert all(set(m) == {"temperature"} for d, m in got if d == "th-1")
    assert all(2.5 < m["co"] < 3.5 for d, m in got if d == "co-1")
