"""`safetwin simulate --scenario` end to end against a real Mosquitto, at high speed.

The test stands in for SafeTwin's actuator side: it watches the garage's CO, switches the fan on over
the contract when CO is high, and sees the acknowledgements, the fan's state and CO falling.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import orjson
import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from core.contract import AckStatus, CommandAck, Telemetry, Topics, now_ms
from tests.fixtures.mosquitto import MosquittoBroker
from tests.fixtures.process import terminate
from tests.helpers import unique_prefix

pytestmark = [pytest.mark.mosquitto, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]

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
        volume_m3: 600
        air_changes_per_h: 0.5
        devices:
          - {id: co-1, kind: co_sensor}
          - {id: co-2, kind: co_sensor}
          - {id: fan-1, kind: fan, airflow_m3_h: 6000}
      - id: lobby
        name: lobby
        kind: lobby
        devices:
          - {id: co-9, kind: co_sensor}
"""

SCENARIO = """\
title: CO rises until someone switches the fan on
speed: 600
duration: 3h
start_time: "02:00"
interval_s: 0.2
spaces: [garage]
timeline:
  - {at: 0, do: source, space: garage, gas: co, rate: 30000, label: idling cars}
  - {at: 1m, do: note, text: watch the CO}
"""


class Watcher:
    """Records telemetry and acks under a prefix; sends commands."""

    def __init__(self, broker: MosquittoBroker, topics: Topics) -> None:
        self.topics = topics
        self.co: list[tuple[int, float]] = []  # (arrival order, co) of co-1 and co-2
        self.acks: list[CommandAck] = []
        self.states: list[dict[str, object]] = []
        self.devices: set[str] = set()
        self.lock = threading.Lock()
        ready = threading.Event()
        self.client = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"watch-{uuid.uuid4().hex[:8]}")
        self.client.on_subscribe = lambda *_: ready.set()
        self.client.on_message = self._on_message
        self.client.connect(broker.host, broker.port)
        self.client.subscribe(
            [(f"{topics.root}/telemetry/+", 1), (f"{topics.root}/ack/+", 1), (f"{topics.root}/state/+", 1)]
        )
        self.client.loop_start()
        assert ready.wait(5)

    def _on_message(self, client: paho.Client, userdata: object, msg: paho.MQTTMessage) -> None:
        kind, device = self.topics.parse(msg.topic) or ("", "")
        with self.lock:
            if kind == "telemetry":
                self.devices.add(device)
                reading = Telemetry.model_validate_json(msg.payload)
                if "co" in reading.metrics and device != "co-9":
                    self.co.append((len(self.co), reading.metrics["co"]))
            elif kind == "ack":
                self.acks.append(CommandAck.model_validate_json(msg.payload))
            elif kind == "state":
                self.states.append(orjson.loads(msg.payload)["state"])

    def latest_co(self) -> float:
        with self.lock:
            return self.co[-1][1] if self.co else 0.0

    def switch_fan_on(self) -> None:
        body = {
            "v": 1,
            "correlation_id": "fan-on-test-1",
            "action": "set",
            "params": {"on": True, "speed": 3},
            "issued_ts": now_ms(),
            "expires_ts": now_ms() + 30_000,
            "issued_by": "rule:test",
        }
        self.client.publish(self.topics.command("fan-1"), orjson.dumps(body), qos=1).wait_for_publish(5)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def wait_until(check: object, proc: subprocess.Popen[bytes], timeout: float = 150.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():  # type: ignore[operator]
        assert proc.poll() is None, "the simulator ended before the condition was met"
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


@pytest.fixture
def files(tmp_path: Path) -> tuple[Path, Path]:
    twin, scenario = tmp_path / "twin.yaml", tmp_path / "co-build-up.yaml"
    twin.write_text(TWIN, encoding="utf-8")
    scenario.write_text(SCENARIO, encoding="utf-8")
    return twin, scenario


@pytest.fixture
def watcher(mosquitto: MosquittoBroker) -> Iterator[Watcher]:
    w = Watcher(mosquitto, Topics(unique_prefix()))
    yield w
    w.close()


@pytest.mark.timeout(300)  # a loaded machine can take half a minute to start the process
def test_a_scenario_runs_to_its_end_and_the_fan_really_lowers_co(
    mosquitto: MosquittoBroker, watcher: Watcher, files: tuple[Path, Path]
) -> None:
    twin, scenario = files
    env = dict(
        os.environ, SAFETWIN_MQTT__URL=mosquitto.url, SAFETWIN_MQTT__TOPIC_PREFIX=watcher.topics.prefix
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "safetwin", "simulate", "--twin", str(twin), "--scenario", str(scenario)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_until(lambda: watcher.latest_co() > 30, proc)
        peak_index = len(watcher.co)
        watcher.switch_fan_on()
        wait_until(
            lambda: [a.status for a in watcher.acks] == [AckStatus.DELIVERED, AckStatus.SUCCEEDED], proc
        )
        wait_until(lambda: watcher.latest_co() < 12, proc)
        out, _ = proc.communicate(timeout=150)
    finally:
        terminate(proc, timeout=5)
    text = out.decode()
    assert proc.returncode == 0, text
    assert "source: co 30000" in text and "note: watch the CO" in text and "end:" in text
    assert watcher.devices == {"co-1", "co-2", "fan-1"}  # the lobby is not in the scenario
    assert {"on": True, "speed": 3, "rpm": 1450} in watcher.states
    after = [co for i, co in watcher.co if i > peak_index]
    assert min(after) < 12 and max(co for _, co in watcher.co) > 30


def test_a_scenario_that_does_not_fit_the_twin_stops_with_file_line_field(
    watcher: Watcher, files: tuple[Path, Path], mosquitto: MosquittoBroker
) -> None:
    twin, scenario = files
    scenario.write_text(SCENARIO.replace("space: garage", "space: cellar"), encoding="utf-8")
    env = dict(os.environ, SAFETWIN_MQTT__URL=mosquitto.url)
    done = subprocess.run(
        [sys.executable, "-m", "safetwin", "simulate", "--twin", str(twin), "--scenario", str(scenario)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 2
    assert f"{scenario}:8: timeline[0].space: space 'cellar' is not in the twin" in done.stderr.decode()
