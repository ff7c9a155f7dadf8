"""A small real twin and helpers that build ingest results the way the pipeline does."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from core.alarms import AlarmSignal, SignalKind
from core.contract import AvailabilityState, DeadLetter, Detection
from core.records import ReadingBatch
from ingest.pipeline import PipelineResult
from rules.engine import RuleEngine
from rules.model import Rule
from rules.settings import RuleSettings
from twin.loader import parse_twin
from twin.twin import Twin

T0 = 1_795_399_200_000  # Monday 2026-11-23 10:00 China time (02:00 UTC)
S = 1000  # one second in ms

TWIN_YAML = """\
version: 1
name: 测试街道
parties:
  - id: p-comm
    name: 澜景社区居委会
    kind: community
    contacts: [{name: 王主任, role: duty officer, phone: '13800000001'}]
  - {id: p-prop, name: 澜景物业, kind: property_company}
sites:
  - id: s1
    name: 澜景社区
    location: {lat: 22.72, lon: 114.05}
    parties: {owner: p-prop, community: p-comm}
    gateways:
      - {id: gw-1, name: 网关1}
    buildings:
      - id: b6
        name: 6栋
        location: {lat: 22.7201, lon: 114.0501}
        floors_below: 1
        floors:
          - level: -1
            name: B1
            spaces:
              - id: b6-garage
                name: 6栋B1地下车库
                kind: basement_garage
                devices:
                  - id: co-1
                    kind: co_sensor
                    name: B1车库CO探测器01
                    meta: {calibrated_on: '2026-01-10', bump_test_on: '2026-06-01'}
                  - {id: co-2, kind: co_sensor, gateway: gw-1}
                  - {id: cam-g, kind: camera, name: 车库摄像机}
          - level: 9
            name: 9F
            spaces:
              - id: r904
                name: 904室（独居老人）
                kind: residence
                devices:
                  - id: sos-1
                    kind: panic_button
                    name: 904室一键呼叫
                    gateway: gw-1
                    contacts: [{name: 张丽, role: daughter, phone: '13900000000'}]
      - id: b7
        name: 7栋
        location: {lat: 22.7203, lon: 114.0503}
        floors_below: 1
        floors:
          - level: -1
            name: B1
            spaces:
              - id: b7-garage
                name: 7栋B1地下车库
                kind: basement_garage
                devices:
                  - {id: co-7, kind: co_sensor}
    spaces:
      - id: st-1
        name: 1号化粪池
        kind: septic_tank
        confined: true
        location: {lat: 22.719, lon: 114.049}
        devices:
          - {id: mg-1, kind: multi_gas, name: 化粪池复合气体检测仪}
          - {id: o2-1, kind: o2_sensor}
  - id: cs
    name: 观澜大道施工工地
    kind: construction_site
    location: {lat: 22.718, lon: 114.066}
    spaces:
      - id: cs-z1
        name: K0+200 施工段
        kind: construction_site
        location: {lat: 22.7175, lon: 114.0661}
        devices:
          - {id: cam-1, kind: camera, name: 施工段摄像机01}
"""


def make_twin() -> Twin:
    return Twin(parse_twin(TWIN_YAML, "test-twin.yaml"))


def rule(data: dict[str, Any]) -> Rule:
    """A rule from a dict, with the fields every test rule shares filled in."""
    base = {"name": data.get("id", "r"), "category": "gas", "citation": {"standard": "test", "clause": "1"}}
    return Rule.model_validate({**base, **data})


def engine(rules: Sequence[Rule | dict[str, Any]], twin: Twin | None = None, **kw: Any) -> RuleEngine:
    made = [r if isinstance(r, Rule) else rule(r) for r in rules]
    settings = kw.pop("settings", None) or RuleSettings()
    return RuleEngine(twin or make_twin(), made, settings=settings, **kw)


def readings(twin: Twin, rows: Iterable[tuple[str, str, float, int]], skew_ms: int = 0) -> ReadingBatch:
    """A ReadingBatch tagged from the twin, as the pipeline builds it; received = ts + skew."""
    batch = ReadingBatch()
    for dev, metric, value, ts in rows:
        p = twin.devices[dev]
        unit = p.metrics[metric].unit
        batch.append(ts, ts + skew_ms, dev, metric, value, unit, p.site, p.building, p.space, p.kind.value)
    return batch


def feed(eng: RuleEngine, rows: Iterable[tuple[str, str, float, int]], skew_ms: int = 0) -> list[AlarmSignal]:
    return eng.on_result(PipelineResult(readings=readings(eng.twin, rows, skew_ms)))


def series(
    eng: RuleEngine, dev: str, metric: str, values: Sequence[float], start: int = T0, step_s: float = 5
) -> list[AlarmSignal]:
    """Feed one value per step, one batch each, and return every signal."""
    out: list[AlarmSignal] = []
    for i, v in enumerate(values):
        out += feed(eng, [(dev, metric, v, start + int(i * step_s * S))])
    return out


def availability(eng: RuleEngine, ident: str, online: bool) -> list[AlarmSignal]:
    state = AvailabilityState.ONLINE if online else AvailabilityState.OFFLINE
    return eng.on_result(PipelineResult(availability=[(ident, state)]))


def detection(eng: RuleEngine, camera: str, **fields: Any) -> list[AlarmSignal]:
    base: dict[str, Any] = {"type": "new", "event_id": "e1", "label": "smoke", "score": 0.9, "top_score": 0.9}
    merged = {**base, **fields}
    merged.setdefault("ts", T0)
    merged.setdefault("start_ts", merged["ts"])
    return eng.on_result(PipelineResult(detections=[(camera, Detection.model_validate(merged))]))


def dead_letter(
    eng: RuleEngine, dev: str, field: str, received: int, category: str = "out_of_range"
) -> list[AlarmSignal]:
    letter = DeadLetter(
        topic=f"safetwin/v1/telemetry/{dev}",
        device_id=dev,
        field=field,
        reason="value 1200.0 ppm is outside the valid range [0.0, 1000.0] of this co_sensor",
        received_ts=received,
        payload="{}",
    )
    return eng.on_result(PipelineResult(dead_letters=[(category, letter)]))


def kinds(signals: Iterable[AlarmSignal]) -> list[tuple[SignalKind, str | None]]:
    """(kind, severity) of each signal, the shape most assertions read best in."""
    return [(s.kind, s.severity.value if s.severity else None) for s in signals]
