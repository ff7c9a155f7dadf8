"""Combined rules: AND / OR of conditions over the devices of one space, within a time window.

Conditions: a metric above / below a value (`value`), a metric rising faster than so much per
minute (`rise`), a camera detection of some labels (`detection`).  A condition holds for
`window_s` after the last time any device of the space met it (a camera event holds while it is
open).  With operator `all` the rule fires when every condition holds at once, e.g. smoke seen by a
camera AND CO rising in the same garage = a high-confidence fire; with `any`, when one does.  It
resolves when that is no longer so.  Times are SafeTwin's receive times, so devices with different
clocks compare fairly.
"""

from __future__ import annotations

from collections import deque
from functools import partial
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from core.alarms import AlarmSignal, Severity, SourceKind
from core.contract import Detection, DetectionEventType, DetectionLabel
from rules.kinds import KindPlugin
from rules.kinds.base import Env, Subscriptions, Track, TrackedEvaluator
from rules.model import Rule
from rules.source import Source, fmt, fmt_duration, label
from twin.kinds import DeviceKind
from twin.twin import DevicePlace


class _Cond(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ValueCondition(_Cond):
    type: Literal["value"] = "value"
    metric: str = Field(description="Metric compared")
    above: float | None = Field(None, description="Met when the value is at or above this")
    below: float | None = Field(None, description="Met when the value is at or below this")

    @model_validator(mode="after")
    def _one(self) -> ValueCondition:
        if (self.above is None) == (self.below is None):
            raise ValueError("a value condition needs exactly one of 'above' and 'below'")
        return self

    def describe(self) -> str:
        if self.above is not None:
            return f"{label(self.metric)} above {fmt(self.above)}"
        return f"{label(self.metric)} below {fmt(self.below or 0.0)}"


class RiseCondition(_Cond):
    type: Literal["rise"] = "rise"
    metric: str = Field(description="Metric whose rise is measured")
    per_minute: float = Field(gt=0, description="Met when it rises at least this much per minute")
    window_s: float = Field(120.0, ge=1, le=3600, description="Window the rise is measured over, s")

    def describe(self) -> str:
        return f"{label(self.metric)} rising {fmt(self.per_minute)}/min"


class DetectionCondition(_Cond):
    type: Literal["detection"] = "detection"
    labels: list[DetectionLabel] = Field(min_length=1, description="Camera labels that meet it")
    min_score: float = Field(0.5, ge=0, le=1, description="Least top score of the event")

    def describe(self) -> str:
        return "camera: " + "/".join(x.value for x in self.labels)


Condition = Annotated[ValueCondition | RiseCondition | DetectionCondition, Field(discriminator="type")]


class CombinedRule(Rule):
    """Several conditions in one space within a co-occurrence window."""

    type: Literal["combined"] = "combined"
    operator: Literal["all", "any"] = Field("all", description="all: AND; any: OR")
    window_s: float = Field(120.0, gt=0, le=86_400, description="How long a met condition keeps holding, s")
    conditions: list[Condition] = Field(min_length=1, max_length=8, description="The conditions")
    severity: Severity = Field(Severity.ALARM, description="Severity when the combination holds")


class SpaceTrack(Track):
    __slots__ = ("hits", "open", "rises")

    def __init__(self, src: Source, n: int) -> None:
        super().__init__(src)
        self.hits: list[dict[str, Any] | None] = [None] * n  # last time each condition was met
        self.open: list[set[str]] = [set() for _ in range(n)]  # open camera events per condition
        self.rises: dict[tuple[int, str], deque[tuple[int, float]]] = {}

    def dump(self) -> dict[str, Any] | None:
        if not any(self.hits) and self.emitted == "idle":
            return None
        return {**(super().dump() or {}), "hits": self.hits, "open": [sorted(o) for o in self.open]}

    def load(self, data: dict[str, Any]) -> None:
        super().load(data)
        self.hits = list(data.get("hits", self.hits))
        self.open = [set(o) for o in data.get("open", [])] or self.open


class CombinedEvaluator(TrackedEvaluator[SpaceTrack]):
    scope = SourceKind.SPACE
    needs_tick = True

    def __init__(self, rule: Rule, env: Env) -> None:
        assert isinstance(rule, CombinedRule)
        super().__init__(rule, env)
        self.cfg = rule
        self.window_ms = int(rule.window_s * 1000)

    def applies_to(self, place: DevicePlace) -> bool:
        return any(self._feeds(c, place) for c in self.cfg.conditions)

    @staticmethod
    def _feeds(c: Condition, place: DevicePlace) -> bool:
        if isinstance(c, DetectionCondition):
            return place.kind == DeviceKind.CAMERA
        return c.metric in place.metrics

    def make_track(self, src: Source) -> SpaceTrack:
        return SpaceTrack(src, len(self.cfg.conditions))

    def subscriptions(self) -> Subscriptions:
        subs = Subscriptions()
        for t in self.tracks.values():
            for dev in t.src.devices:
                place = self.env.twin.devices[dev]
                for i, c in enumerate(self.cfg.conditions):
                    if isinstance(c, DetectionCondition):
                        if place.kind == DeviceKind.CAMERA and dev not in subs.detections:
                            subs.detections.append(dev)
                    elif isinstance(c, RiseCondition) and c.metric in place.metrics:
                        win = int(c.window_s * 1000)
                        subs.readings.append(
                            (dev, c.metric, partial(self.on_rise, t, i, dev, win, c.per_minute))
                        )
                    elif c.metric in place.metrics:
                        subs.readings.append((dev, c.metric, partial(self.on_value, t, i, dev)))
        return subs

    def on_silent(self, device_id: str, now: int, reason: str) -> list[AlarmSignal]:
        return []  # one silent device does not void a space's combination; it lapses with the window

    def on_value(self, t: SpaceTrack, i: int, dev: str, ts: int, value: float) -> AlarmSignal | None:
        c = self.cfg.conditions[i]
        assert isinstance(c, ValueCondition)
        met = (c.above is not None and value >= c.above) or (c.below is not None and value <= c.below)
        return self._met(t, i, dev, ts, value, met)

    def on_rise(
        self, t: SpaceTrack, i: int, dev: str, window_ms: int, per_minute: float, ts: int, value: float
    ) -> AlarmSignal | None:
        w = t.rises.get((i, dev))
        if w is None:
            w = t.rises[(i, dev)] = deque()
        w.append((ts, value))
        while w[0][0] < ts - window_ms:
            w.popleft()
        t0, v0 = w[0]
        rise = (value - v0) * 60_000 / (ts - t0) if 2 * (ts - t0) >= window_ms else 0.0
        return self._met(t, i, dev, ts, rise, rise >= per_minute)

    def _met(self, t: SpaceTrack, i: int, dev: str, ts: int, figure: float, met: bool) -> AlarmSignal | None:
        if not met and t.emitted == "idle":
            return None
        now = ts + self.env.offset(dev)
        if met:
            what = self.cfg.conditions[i].describe()
            t.hits[i] = {"ts": now, "device": dev, "value": round(figure, 3), "what": what}
        return self._settle(t, now)

    def on_detection(self, camera_id: str, det: Detection, now: int) -> list[AlarmSignal]:
        out = []
        for t in self.by_device.get(camera_id, ()):
            for i, c in enumerate(self.cfg.conditions):
                if not isinstance(c, DetectionCondition) or det.label not in c.labels:
                    continue
                if det.type == DetectionEventType.END:
                    hit = t.hits[i]
                    if det.event_id in t.open[i] and hit is not None:
                        t.open[i].discard(det.event_id)
                        hit["ts"] = now  # met until it ended: holds for the window from now
                    continue
                if det.top_score >= c.min_score:
                    t.open[i].add(det.event_id)
                    t.hits[i] = {
                        "ts": now,
                        "device": camera_id,
                        "label": det.label.value,
                        "score": det.top_score,
                        "event_id": det.event_id,
                        "what": c.describe(),
                    }
            sig = self._settle(t, now)
            if sig is not None:
                out.append(sig)
        return out

    def tick(self, now: int) -> list[AlarmSignal]:
        out = []
        for t in self.tracks.values():
            if t.busy:
                sig = self._settle(t, now)
                if sig is not None:
                    out.append(sig)
        return out

    def _holds(self, t: SpaceTrack, i: int, now: int) -> bool:
        hit = t.hits[i]
        return hit is not None and (bool(t.open[i]) or now - int(hit["ts"]) <= self.window_ms)

    def _settle(self, t: SpaceTrack, now: int) -> AlarmSignal | None:
        held = [self._holds(t, i, now) for i in range(len(t.hits))]
        ok = all(held) if self.cfg.operator == "all" else any(held)
        kind = t.decide("firing" if ok else "idle", self.cfg.severity if ok else None)
        if kind is None:
            return None
        parts = [f"{h['what']} ({h['device']})" for h, on in zip(t.hits, held, strict=True) if h and on]
        joiner = " and " if self.cfg.operator == "all" else " or "
        if ok:
            within = fmt_duration(self.window_ms)
            msg = f"{self.cfg.name} in {t.src.space_name}: {joiner.join(parts)} within {within}"
        else:
            msg = f"{self.cfg.name} in {t.src.space_name}: conditions no longer hold together"
        evidence = {
            "space": t.src.id,
            "operator": self.cfg.operator,
            "window_s": self.cfg.window_s,
            "conditions": [
                {"condition": c.model_dump(mode="json"), "holds": on, "last_met": h}
                for c, h, on in zip(self.cfg.conditions, t.hits, held, strict=True)
            ],
        }
        return self.emit(kind, t.src, now, msg, evidence, self.cfg.severity if ok else None)


PLUGIN = KindPlugin(rule=CombinedRule, evaluator=CombinedEvaluator)
