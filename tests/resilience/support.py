"""A SafeTwin process the tests can kill, a watcher of what it sends, and the twin and rules they use."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

from core.contract import Topics
from tests.fixtures.mosquitto import MosquittoBroker, free_port, wait_port

ROOT = Path(__file__).resolve().parents[2]

TWIN = """
version: 1
name: 韧性
sites:
  - id: site-a
    name: 新河社区
    location: {lat: 22.70, lon: 114.05}
    buildings:
      - id: bld-1
        name: 1栋
        location: {lat: 22.701, lon: 114.051}
        floors:
          - level: -1
            name: B1
            spaces:
              - id: garage-1
                name: 地下车库
                kind: basement_garage
                devices:
                  - {id: co-1, kind: co_sensor}
                  - {id: co-2, kind: co_sensor}
                  - {id: co-3, kind: co_sensor}
                  - {id: fan-1, kind: fan}
"""

# co-1 raises at once and starts the fan; co-3 only after 4 s above (a pending timer).
PACK = """
pack: resilience
title: Resilience
rules:
  - id: res-co-now
    name: CO now
    category: gas
    type: threshold
    metric: co
    direction: above
    target: {devices: [co-1, co-2]}
    citation: {standard: none, clause: test, title: test rule}
    levels:
      - {severity: alarm, trigger: 100, clear: 50, on_delay_s: 0, off_delay_s: 0}
    actions:
      - {device_kind: fan, params: {on: true}, stop_params: {on: false}}
  - id: res-co-delayed
    name: CO after a delay
    category: gas
    type: threshold
    metric: co
    direction: above
    target: {devices: [co-3]}
    citation: {standard: none, clause: test, title: test rule}
    levels:
      - {severity: alarm, trigger: 100, clear: 50, on_delay_s: 4, off_delay_s: 0}
"""


def safetwin_env(work: Path, broker: MosquittoBroker, prefix: str, **extra: str) -> dict[str, str]:
    """Environment of a SafeTwin process on `broker`, its files under `work`, with the test twin and pack."""
    (work / "twin.yaml").write_text(TWIN, encoding="utf-8")
    (work / "pack.yaml").write_text(PACK, encoding="utf-8")
    env = dict(os.environ)
    env.update(
        {
            "SAFETWIN_MQTT__URL": broker.url,
            "SAFETWIN_MQTT__TOPIC_PREFIX": prefix,
            "SAFETWIN_MQTT__CLIENT_ID": f"worker-{prefix}",
            "SAFETWIN_MQTT__RECONNECT_MIN_S": "0.2",
            "SAFETWIN_MQTT__RECONNECT_MAX_S": "1",
            "SAFETWIN_TWIN__PATH": str(work / "twin.yaml"),
            "SAFETWIN_RULES__PACKS": orjson.dumps([str(work / "pack.yaml")]).decode(),
            "SAFETWIN_RULES__TICK_INTERVAL_S": "0.2",
            "SAFETWIN_RULES__SNAPSHOT_INTERVAL_S": "0.3",
            "SAFETWIN_STORE__DUCKDB_PATH": str(work / "history.duckdb"),
            "SAFETWIN_STORE__SPOOL_DIR": str(work / "spool"),
            "SAFETWIN_STORE__FLUSH_INTERVAL_S": "0.1",
            "SAFETWIN_STATE__SQLITE_PATH": str(work / "state.sqlite"),
            "SAFETWIN_STATE__SNAPSHOT_INTERVAL_S": "0.5",
            "SAFETWIN_DATABASE__URL": f"sqlite:///{work / 'ops.db'}",
            "SAFETWIN_API__PORT": str(free_port()),
            "SAFETWIN_VISION__ENABLED": "false",
            "SAFETWIN_LOG_LEVEL": "WARNING",
        }
    )
    env.update(extra)
    return env


@dataclass
class SafeTwinProcess:
    """`safetwin run --no-dashboard` in a process of its own."""

    env: dict[str, str]
    log: Path
    proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "safetwin", "run", "--no-dashboard"],
                cwd=ROOT,
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        wait_port("127.0.0.1", int(self.env["SAFETWIN_API__PORT"]), timeout=60)

    def kill(self) -> None:
        """kill -9: no flush, no goodbye."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=45)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                tail = self.log.read_text()[-3000:]
                raise AssertionError(f"SafeTwin did not stop in 45 s; log:\n{tail}") from None

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None


@dataclass
class Watcher:
    """Every command and alarm announcement SafeTwin sends, as received on the broker."""

    broker: MosquittoBroker
    topics: Topics
    commands: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    alarms: list[dict[str, Any]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self.client = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"watch-{time.monotonic_ns()}")
        self.client.on_message = self._on_message
        self.client.connect(self.broker.host, self.broker.port)
        root = self.topics.root
        self.client.subscribe([(f"{root}/command/+", 1), (f"{root}/alarm/+", 1)])
        self.client.loop_start()

    def _on_message(self, _c: paho.Client, _u: object, msg: paho.MQTTMessage) -> None:
        kind, ident = msg.topic.split("/")[-2:]
        body = orjson.loads(msg.payload)
        with self.lock:
            if kind == "command":
                self.commands.append((ident, body))
            else:
                self.alarms.append(body)

    def fan_on_commands(self, fan: str) -> int:
        with self.lock:
            return sum(1 for dev, c in self.commands if dev == fan and c.get("params", {}).get("on") is True)

    def active(self, rule_id: str, source: str) -> bool:
        with self.lock:
            return any(
                a["rule_id"] == rule_id and a["source_id"] == source and a["state"] == "active"
                for a in self.alarms
            )

    def raised_count(self, rule_id: str, source: str) -> int:
        """Distinct alarms of a rule on a source (a re-raise after a restart would be a second one)."""
        with self.lock:
            return len({a["id"] for a in self.alarms if a["rule_id"] == rule_id and a["source_id"] == source})

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def count_by_ts(values: list[int]) -> Counter[int]:
    return Counter(values)
