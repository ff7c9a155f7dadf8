"""A scenario run in-process against a real Mosquitto: detections, gateways dropping off, local switching."""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import Iterator

import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from core.contract import (
    ActuatorState,
    Availability,
    Detection,
    DetectionEventType,
    GatewayBatch,
    Topics,
)
from core.settings import MqttSettings, Settings
from simulators.plan import check_against_twin
from simulators.runner import ScenarioRun
from simulators.scenario import parse_scenario
from tests.fixtures.mosquitto import MosquittoBroker
from tests.helpers import unique_prefix
from twin.loader import parse_twin
from twin.twin import Twin

pytestmark = pytest.mark.mosquitto

TWIN = """\
version: 1
name: t
sites:
  - id: site
    name: site
    kind: construction_site
    location: {lat: 22.72, lon: 114.05}
    gateways:
      - {id: gw-1, name: LoRa}
    spaces:
      - id: zone
        name: zone
        kind: construction_site
        devices:
          - {id: cam-1, kind: camera}
          - {id: spk-1, kind: speaker}
          - {id: gas-1, kind: multi_gas, gateway: gw-1}
          - {id: gas-2, kind: multi_gas, gateway: gw-1}
      - id: tank
        name: tank
        kind: septic_tank
        confined: true
        devices:
          - {id: relay-1, kind: relay}
      - id: office
        name: office
        kind: office
        devices:
          - {id: co-9, kind: co_sensor}
"""

SCENARIO = """\
name: drill
title: A drill
speed: 120
duration: 12m
interval_s: 0.1
gateway_batch: true
spaces: [zone]
devices: [relay-1]
timeline:
  - {at: 1m, do: detection, camera: cam-1, label: fall, for: 4m, score: 0.8, zones: [pit]}
  - {at: 2m, do: offline, device: gw-1}
  - {at: 3m, do: actuate, device: relay-1, params: {on: true}}
  - {at: 6m, do: online, device: gw-1}
  - {at: 7m, do: note, text: all clear}
"""


class Collector:
    def __init__(self, broker: MosquittoBroker, topics: Topics) -> None:
        self.topics = topics
        self.messages: list[tuple[str, str, bytes]] = []  # kind, id, payload
        self.lock = threading.Lock()
        ready = threading.Event()
        self.client = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"col-{uuid.uuid4().hex[:8]}")
        self.client.on_subscribe = lambda *_: ready.set()
        self.client.on_message = self._on_message
        self.client.connect(broker.host, broker.port)
        self.client.subscribe(f"{topics.root}/#", qos=1)
        self.client.loop_start()
        assert ready.wait(5)

    def _on_message(self, client: paho.Client, userdata: object, msg: paho.MQTTMessage) -> None:
        kind, ident = self.topics.parse(msg.topic) or ("", "")
        with self.lock:
            self.messages.append((kind, ident, bytes(msg.payload)))

    def of(self, kind: str) -> list[tuple[str, bytes]]:
        with self.lock:
            return [(i, p) for k, i, p in self.messages if k == kind]

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture
def collector(mosquitto: MosquittoBroker) -> Iterator[Collector]:
    c = Collector(mosquitto, Topics(unique_prefix()))
    yield c
    c.close()


async def test_a_drill_plays_its_timeline_on_the_contract(
    mosquitto: MosquittoBroker, collector: Collector
) -> None:
    twin = Twin(parse_twin(TWIN))
    scenario, root = parse_scenario(SCENARIO, "drill.yaml")
    check_against_twin(scenario, twin, root, "drill.yaml")
    settings = Settings(mqtt=MqttSettings(url=mosquitto.url, topic_prefix=collector.topics.prefix))
    lines: list[str] = []
    run = ScenarioRun(settings, scenario, twin, speed=None, out=lines.append)
    summary = await run.run(asyncio.Event())
    await asyncio.sleep(0.5)  # the last messages reach the collector

    events = [Detection.model_validate_json(p) for _, p in collector.of("detection")]
    assert [e.type for e in events] == [
        DetectionEventType.NEW,
        DetectionEventType.UPDATE,
        DetectionEventType.END,
    ]
    assert {e.event_id for e in events} == {events[0].event_id} and events[0].label == "fall"
    assert events[-1].end_ts is not None and events[0].zones == ["pit"]

    gw = [Availability.model_validate_json(p) for i, p in collector.of("availability") if i == "gw-1"]
    assert [(a.state, a.reason) for a in gw] == [
        ("online", "birth"),
        ("offline", "last-will"),
        ("online", "birth"),
        ("offline", "shutdown"),
    ]
    # the devices behind the gateway send nothing between its last-will and its return
    batches = [GatewayBatch.model_validate_json(p) for _, p in collector.of("gateway")]
    readings = [r for b in batches for r in b.readings]
    assert {r.device_id for r in readings} == {"gas-1", "gas-2"} and len(readings) == summary.readings
    gone, back = gw[1].ts, gw[2].ts
    assert gone is not None and back is not None
    assert [r for r in readings if r.ts is not None and gone < r.ts < back] == []
    assert any(r.ts is not None and r.ts > back for r in readings)
    assert collector.of("telemetry") == []  # batches only, and the office is not in the scenario

    states = [ActuatorState.model_validate_json(p).state for i, p in collector.of("state") if i == "relay-1"]
    assert states == [{"on": False}, {"on": True}]
    assert any("note: all clear" in line for line in lines)
    assert lines[-1].startswith("[drill 00:12:00] end:"), lines[-3:]
