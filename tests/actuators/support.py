"""A small twin with every actuator kind, and a command sink that keeps what was sent (pure logic)."""

from __future__ import annotations

from typing import Any

from actuators.manager import CommandManager
from actuators.settings import ActuatorSettings
from core.contract import Command
from core.records import ReadingBatch
from twin.loader import parse_twin
from twin.twin import Twin

TWIN = """
version: 1
name: 执行器测试
sites:
  - id: lj
    name: 澜景社区
    location: {lat: 22.72, lon: 114.05}
    buildings:
      - id: b1
        name: 1栋
        location: {lat: 22.72, lon: 114.05}
        floors:
          - level: -1
            name: B1
            spaces:
              - id: garage
                name: B1车库
                kind: basement_garage
                devices:
                  - {id: co-1, kind: co_sensor}
                  - {id: co-2, kind: co_sensor}
                  - {id: fan-1, kind: fan}
                  - {id: fan-2, kind: fan}
                  - {id: spk-1, kind: speaker}
                  - {id: cam-1, kind: camera}
          - level: 1
            name: 1F
            spaces:
              - id: kitchen
                name: 后厨
                kind: kitchen
                devices:
                  - {id: lel-1, kind: lel_sensor}
                  - {id: valve-1, kind: valve}
                  - {id: kfan-1, kind: fan}
    spaces:
      - id: tank
        name: 1号化粪池
        kind: septic_tank
        confined: true
        location: {lat: 22.72, lon: 114.05}
        devices:
          - {id: gas-1, kind: multi_gas}
          - {id: tfan-1, kind: fan, meta: {explosion_proof: true}}
          - {id: relay-d, kind: relay, meta: {drives: disinfection}}
          - {id: relay-b, kind: relay, meta: {drives: biodegradation}}
"""

T0 = 1_800_000_000_000
S = 1000


class Sink:
    """Keeps every command 'published', in order."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, Command]] = []

    def send(self, device_id: str, command: Command) -> None:
        self.sent.append((device_id, command))

    def to(self, device_id: str) -> list[Command]:
        return [c for d, c in self.sent if d == device_id]


def twin() -> Twin:
    return Twin(parse_twin(TWIN, "actuators-test.yaml"))


def manager(**settings: Any) -> tuple[CommandManager, Sink]:
    sink = Sink()
    return CommandManager(twin(), ActuatorSettings.model_validate(settings), sink), sink


def readings(tw: Twin, rows: list[tuple[str, str, float]], ts: int) -> ReadingBatch:
    """A batch of (device, metric, value) at `ts`, tagged from the twin as ingest does."""
    batch = ReadingBatch()
    for dev, metric, value in rows:
        p = tw.devices[dev]
        batch.append(ts, ts, dev, metric, value, "", p.site, p.building, p.space, p.kind.value)
    return batch
