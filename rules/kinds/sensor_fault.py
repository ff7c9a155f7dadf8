"""Sensor-fault rules: a device reporting values outside its valid range is faulty.

Ingest refuses such a value as a dead letter (category 'out_of_range') naming the device and the
field; this rule fires on it (category sensor_fault) and resolves after `clear_after` consecutive
valid readings of each faulty metric.
"""

from __future__ import annotations

from functools import partial
from typing import Any, Literal

from pydantic import Field

from core.alarms import AlarmSignal, Severity
from core.contract import DeadLetter
from rules.kinds import KindPlugin
from rules.kinds.base import Env, Subscriptions, Track, TrackedEvaluator
from rules.model import Rule
from rules.source import Source, label
from twin.twin import DevicePlace


class SensorFaultRule(Rule):
    """Dead letters of a device (out of range by default) are a sensor fault."""

    type: Literal["sensor_fault"] = "sensor_fault"
    categories: list[str] = Field(
        default_factory=lambda: ["out_of_range"],
        min_length=1,
        description="Dead-letter categories that count",
    )
    clear_after: int = Field(
        3, ge=1, le=1000, description="Consecutive valid readings of a metric that clear it"
    )
    severity: Severity = Field(Severity.WARNING, description="Severity of the fault alarm")


class FaultTrack(Track):
    __slots__ = ("ev", "faults")

    def __init__(self, src: Source, ev: SensorFaultEvaluator) -> None:
        super().__init__(src)
        self.ev = ev
        self.faults: dict[str, list[Any]] = {}  # metric -> [ts, field, reason, valid readings since]

    def valid(self, metric: str, ts: int, _value: float) -> AlarmSignal | None:
        """A valid reading of `metric` (hot path: one test while the device is healthy)."""
        if not self.faults:
            return None
        for key in (metric, ""):  # "": a fault that named no metric, cleared by any valid reading
            fault = self.faults.get(key)
            if fault is not None:
                fault[3] += 1
                if fault[3] >= self.ev.cfg.clear_after:
                    del self.faults[key]
        return None if self.faults else self.ev.clear(self, metric, ts)

    def dump(self) -> dict[str, Any] | None:
        if not self.faults and self.emitted == "idle":
            return None
        return {**(super().dump() or {}), "faults": self.faults}

    def load(self, data: dict[str, Any]) -> None:
        super().load(data)
        self.faults = {m: list(f) for m, f in data.get("faults", {}).items()}


def _metric_of(field: str | None) -> str:
    """'readings.3.metrics.co' -> 'co'; '' when the field names no metric."""
    if not field or ".metrics." not in f".{field}":
        return ""
    return field.rsplit(".", 1)[-1]


class SensorFaultEvaluator(TrackedEvaluator[FaultTrack]):
    def __init__(self, rule: Rule, env: Env) -> None:
        assert isinstance(rule, SensorFaultRule)
        super().__init__(rule, env)
        self.cfg = rule

    def applies_to(self, place: DevicePlace) -> bool:
        return bool(place.metrics)

    def make_track(self, src: Source) -> FaultTrack:
        return FaultTrack(src, self)

    def subscriptions(self) -> Subscriptions:
        subs = Subscriptions()
        for t in self.tracks.values():
            for metric in self.env.twin.devices[t.src.id].metrics:
                subs.readings.append((t.src.id, metric, partial(t.valid, metric)))
        subs.dead_letters = list(self.tracks)
        return subs

    def on_dead_letter(
        self, device_id: str, category: str, letter: DeadLetter, now: int
    ) -> list[AlarmSignal]:
        t = self.tracks.get(device_id)
        if t is None or category not in self.cfg.categories:
            return []
        metric = _metric_of(letter.field)
        t.faults[metric] = [letter.received_ts, letter.field, letter.reason, 0]
        kind = t.decide("firing", self.cfg.severity)
        if kind is None:
            return []
        what = f"{label(metric)} " if metric else ""
        msg = (
            f"Sensor fault: {t.src.name} in {t.src.space_name} sent a {what}value SafeTwin refused "
            f"({letter.reason})"
        )
        evidence = {
            "device": device_id,
            "category": category,
            "field": letter.field,
            "reason": letter.reason,
            "topic": letter.topic,
            "payload": letter.payload[:200],
        }
        return [self.emit(kind, t.src, letter.received_ts, msg, evidence, self.cfg.severity)]

    def clear(self, t: FaultTrack, metric: str, ts: int) -> AlarmSignal | None:
        kind = t.decide("idle", None)
        if kind is None:
            return None
        msg = f"{t.src.name} in {t.src.space_name} reports valid {label(metric)} values again"
        evidence = {"device": t.src.id, "valid_readings": self.cfg.clear_after}
        return self.emit(kind, t.src, ts, msg, evidence)


PLUGIN = KindPlugin(rule=SensorFaultRule, evaluator=SensorFaultEvaluator)
