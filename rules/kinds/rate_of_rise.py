"""Rate-of-rise rules: how fast a metric climbs, in its unit per minute, over a sliding window.

The rate is (newest - oldest) / elapsed minutes over the samples of the last `window_s`, computed
once the samples span at least `min_span_s` (half the window by default) so two close samples of a
noisy sensor do not make a steep slope.  The rate then runs through the same levels as a threshold:
hysteresis, on/off delays and repeat counts.
"""

from __future__ import annotations

from collections import deque
from typing import Any, Literal

from pydantic import Field, model_validator

from core.alarms import AlarmSignal
from rules.kinds import KindPlugin
from rules.kinds.base import Env
from rules.kinds.threshold import LevelRule, ThresholdEvaluator, ThresholdTrack
from rules.model import Rule
from rules.source import Source, label


class RateOfRiseRule(LevelRule):
    """A metric's rise per minute against severity levels (triggers in unit/min)."""

    type: Literal["rate_of_rise"] = "rate_of_rise"
    direction: Literal["above"] = Field("above", description="Rates are compared as rises: always 'above'")
    window_s: float = Field(60.0, ge=1, le=3600, description="Sliding window the rise is measured over, s")
    min_span_s: float | None = Field(
        None, gt=0, description="Least time the window's samples must span; unset: half the window, s"
    )

    @model_validator(mode="after")
    def _check_span(self) -> RateOfRiseRule:
        if self.min_span_s is not None and self.min_span_s > self.window_s:
            raise ValueError(f"min_span_s {self.min_span_s} is longer than window_s {self.window_s}")
        return self


class RateTrack(ThresholdTrack):
    __slots__ = ("window",)

    def __init__(self, src: Source, ev: RateEvaluator, unit: str) -> None:
        super().__init__(src, ev, unit)
        self.window: deque[tuple[int, float]] = deque()

    def sample(self, ts: int, value: float) -> AlarmSignal | None:
        ev = self.ev
        assert isinstance(ev, RateEvaluator)
        w = self.window
        w.append((ts, value))
        cut = ts - ev.window_ms
        while w[0][0] < cut:
            w.popleft()
        t0, v0 = w[0]
        if ts - t0 < ev.span_ms:
            return None  # not enough history in the window yet: the state holds
        rate = (value - v0) * 60_000 / (ts - t0)
        if self.idle and rate < self.low:
            return None
        return ev.step(self, ts, rate, rate)

    def dump(self) -> dict[str, Any] | None:
        base = super().dump()
        if base is None and not self.window:
            return None
        return {**(base or {}), "window": [list(s) for s in self.window]}

    def load(self, data: dict[str, Any]) -> None:
        super().load(data)
        self.window.extend((int(t), float(v)) for t, v in data.get("window", []))


class RateEvaluator(ThresholdEvaluator):
    def __init__(self, rule: Rule, env: Env) -> None:
        assert isinstance(rule, RateOfRiseRule)
        super().__init__(rule, env)
        self.window_ms = int(rule.window_s * 1000)
        self.span_ms = max(1, int((rule.min_span_s or rule.window_s / 2) * 1000))

    def make_track(self, src: Source) -> ThresholdTrack:
        unit = self.env.twin.devices[src.id].metrics[self.cfg.metric].unit
        return RateTrack(src, self, f"{unit}/min")

    def what(self) -> str:
        return f"{label(self.cfg.metric)} rise"


PLUGIN = KindPlugin(rule=RateOfRiseRule, evaluator=RateEvaluator)
