"""Exposure rules: 8-hour TWA and 15-minute STEL as a personal gas monitor computes them.

Method (the one documented in docs/rules.md):
- each reading's value holds from its time until the next reading, for at most `max_hold_s`;
  time beyond that (a gap in the data) counts as zero exposure;
- the exposure of a window is the integral of that step function over the last `window_s`
  (trailing window ending now), divided by the whole window length, never by the time covered:
  TWA = sum(c_i * t_i) / 8 h and STEL = sum(c_i * t_i) / 15 min, so missing time counts as zero,
  as monitors do once a shift is 8 h (GBZ 2.1-2019's PC-TWA is defined over an 8 h working day);
- a limit fires when the figure reaches it and resolves once it falls below `clear` (default the limit).
A fixed monitor in a space measures the space, not a person: its TWA is the exposure of someone who
would have stayed there for the whole window, the upper bound for anyone who entered.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from functools import partial
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from core.alarms import AlarmSignal, Severity, SignalKind
from rules.kinds import KindPlugin
from rules.kinds.base import Env, Subscriptions, Track, TrackedEvaluator
from rules.model import Rule
from rules.source import Source, fmt, fmt_duration, label
from twin.twin import DevicePlace

_WINDOWS = {"twa": 8 * 3600.0, "stel": 15 * 60.0}


class ExposureLimit(BaseModel):
    """One exposure limit: a time-weighted average over a window against a figure."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["twa", "stel"] = Field(description="twa: 8-hour average; stel: 15-minute average")
    limit: float = Field(gt=0, description="Limit in the metric's unit (ppm)")
    clear: float | None = Field(None, gt=0, description="Resolves below this; unset: the limit")
    severity: Severity = Field(Severity.ALARM, description="Severity when the limit is reached")
    window_s: float | None = Field(
        None, gt=0, description="Averaging window; unset: 28800 (twa) or 900 (stel)"
    )
    basis: str | None = Field(None, description="Where the figure comes from, with the unit conversion")

    @property
    def window_ms(self) -> int:
        return int((self.window_s or _WINDOWS[self.kind]) * 1000)

    @property
    def clear_level(self) -> float:
        return self.limit if self.clear is None else self.clear


class ExposureRule(Rule):
    """Time-weighted exposure of a toxic gas (CO, H2S) against TWA / STEL limits."""

    type: Literal["exposure"] = "exposure"
    metric: str = Field(min_length=1, description="Gas measured, e.g. 'co' or 'h2s', in ppm")
    limits: list[ExposureLimit] = Field(min_length=1, max_length=4, description="Limits checked")
    max_hold_s: float = Field(
        60.0, gt=0, le=3600, description="Longest a reading's value is held; longer gaps count as zero, s"
    )

    @model_validator(mode="after")
    def _check(self) -> ExposureRule:
        for lim in self.limits:
            if lim.clear_level > lim.limit:
                raise ValueError(
                    f"{lim.kind} clear {lim.clear_level} must not be above its limit {lim.limit}"
                )
        return self


class Window:
    """Integral of a step function over a trailing window; segments merge when their value repeats."""

    __slots__ = ("ms", "segs", "total")

    def __init__(self, ms: int) -> None:
        self.ms = ms
        self.segs: deque[list[float]] = deque()  # [t0, t1, value], t in ms
        self.total = 0.0  # sum of value * (t1 - t0) over segs

    def add(self, t0: int, t1: int, value: float) -> None:
        if t1 <= t0:
            return
        last = self.segs[-1] if self.segs else None
        if last is not None and last[1] == t0 and last[2] == value:
            last[1] = t1
        else:
            self.segs.append([t0, t1, value])
        self.total += value * (t1 - t0)

    def integral(self, now: int, open_seg: tuple[int, int, float] | None) -> float:
        """Integral over [now - ms, now] in value*ms, including the still-open held reading."""
        cut = now - self.ms
        segs = self.segs
        while segs and segs[0][1] <= cut:
            t0, t1, v = segs.popleft()
            self.total -= v * (t1 - t0)
        total = self.total
        if segs and segs[0][0] < cut:
            total -= segs[0][2] * (cut - segs[0][0])
        if open_seg is not None:
            t0, t1, v = open_seg
            t0, t1 = max(t0, cut), min(t1, now)
            if t1 > t0:
                total += v * (t1 - t0)
        return max(total, 0.0)


class ExposureTrack(Track):
    __slots__ = ("active", "last", "unit", "values", "windows")

    def __init__(self, src: Source, limits: Sequence[ExposureLimit], unit: str) -> None:
        super().__init__(src)
        self.unit = unit
        self.windows = [Window(lim.window_ms) for lim in limits]
        self.active = [False] * len(limits)
        self.values = [0.0] * len(limits)
        self.last: tuple[int, float] | None = None

    def dump(self) -> dict[str, Any] | None:
        if self.last is None:
            return None
        return {
            **(super().dump() or {}),
            "active": self.active,
            "last": list(self.last),
            "segs": [[list(s) for s in w.segs] for w in self.windows],
        }

    def load(self, data: dict[str, Any]) -> None:
        super().load(data)
        self.active = [bool(a) for a in data["active"]]
        self.last = (int(data["last"][0]), float(data["last"][1]))
        for w, segs in zip(self.windows, data["segs"], strict=True):
            for t0, t1, v in segs:
                w.add(int(t0), int(t1), float(v))


class ExposureEvaluator(TrackedEvaluator[ExposureTrack]):
    needs_tick = True

    def __init__(self, rule: Rule, env: Env) -> None:
        assert isinstance(rule, ExposureRule)
        super().__init__(rule, env)
        self.cfg = rule
        self.hold_ms = int(rule.max_hold_s * 1000)

    def applies_to(self, place: DevicePlace) -> bool:
        return self.cfg.metric in place.metrics

    def make_track(self, src: Source) -> ExposureTrack:
        unit = self.env.twin.devices[src.id].metrics[self.cfg.metric].unit
        return ExposureTrack(src, self.cfg.limits, unit)

    def subscriptions(self) -> Subscriptions:
        subs = Subscriptions()
        for t in self.tracks.values():
            subs.readings.append((t.src.id, self.cfg.metric, partial(self.sample, t)))
        return subs

    def on_silent(self, device_id: str, now: int, reason: str) -> list[AlarmSignal]:
        return []  # exposure stays defined in silence: the missing time counts as zero

    def sample(self, t: ExposureTrack, ts: int, value: float) -> AlarmSignal | None:
        if t.last is not None:
            t0, v0 = t.last
            end = min(ts, t0 + self.hold_ms)
            for w in t.windows:
                w.add(t0, end, v0)
        t.last = (ts, value)
        return self.evaluate(t, ts)

    def tick(self, now: int) -> list[AlarmSignal]:
        out = []
        for t in self.tracks.values():
            if t.last is None:
                continue
            dev_now = now - self.env.offset(t.src.id)
            if dev_now > t.last[0]:
                sig = self.evaluate(t, dev_now)
                if sig is not None:
                    out.append(sig)
        return out

    def evaluate(self, t: ExposureTrack, now: int) -> AlarmSignal | None:
        assert t.last is not None
        open_seg = (t.last[0], t.last[0] + self.hold_ms, t.last[1])
        top: int = -1
        for i, (lim, w) in enumerate(zip(self.cfg.limits, t.windows, strict=True)):
            avg = w.integral(now, open_seg) / w.ms
            t.values[i] = avg
            if avg >= lim.limit:
                t.active[i] = True
            elif avg < lim.clear_level:
                t.active[i] = False
            if t.active[i] and (top < 0 or lim.severity.rank > self.cfg.limits[top].severity.rank):
                top = i
        sev = self.cfg.limits[top].severity if top >= 0 else None
        kind = t.decide("firing" if top >= 0 else "idle", sev)
        return None if kind is None else self._signal(kind, t, top, now)

    def _signal(self, kind: SignalKind, t: ExposureTrack, top: int, now: int) -> AlarmSignal:
        name, u = label(self.cfg.metric), t.unit
        figures = {
            lim.kind: {
                "value": round(v, 3),
                "limit": lim.limit,
                "window_s": lim.window_ms / 1000,
                "active": a,
            }
            for lim, v, a in zip(self.cfg.limits, t.values, t.active, strict=True)
        }
        evidence = {
            "device": t.src.id,
            "metric": self.cfg.metric,
            "unit": u,
            "exposure": figures,
            "method": "held readings (max_hold_s), integral over the trailing window / window length",
        }
        if top >= 0:
            lim = self.cfg.limits[top]
            what = "8-hour TWA" if lim.kind == "twa" else "15-minute STEL"
            msg = (
                f"{name} {what} {fmt(t.values[top])} {u} in {t.src.space_name} reached the limit "
                f"{fmt(lim.limit)} {u} (averaged over {fmt_duration(lim.window_ms)}; {t.src.name})"
            )
        else:
            msg = f"{name} exposure in {t.src.space_name} back under its limits ({t.src.name})"
        return self.emit(kind, t.src, now, msg, evidence, self.cfg.limits[top].severity if top >= 0 else None)


PLUGIN = KindPlugin(rule=ExposureRule, evaluator=ExposureEvaluator)
