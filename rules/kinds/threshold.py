"""Threshold rules: warning / alarm / emergency levels with hysteresis, on/off delays and repeat counts.

A level goes IDLE -> PENDING when a sample is beyond its trigger, PENDING -> ACTIVE once `repeat`
consecutive samples were beyond it and `on_delay_s` has passed since the first, ACTIVE -> CLEARING
when a sample is back past the clear level, and CLEARING -> IDLE after `off_delay_s` there.  Reaching
a level implies the lower ones; a lower level leaves only after the higher ones.  The source fires at
the highest active level; signals go out only when that changes.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from typing import Any, Literal

from pydantic import Field, model_validator

from core.alarms import AlarmSignal, SignalKind
from rules.kinds import KindPlugin
from rules.kinds.base import Env, Subscriptions, Track, TrackedEvaluator
from rules.levels import ACTIVE, CLEARING, IDLE, PENDING, Direction, Ladder, Level, check_levels
from rules.model import Rule
from rules.source import Source, fmt, fmt_duration, label
from twin.twin import DevicePlace

INF = float("inf")


class LevelRule(Rule):
    """A rule that compares one figure per device with severity levels (threshold, rate of rise)."""

    metric: str = Field(min_length=1, description="Metric watched, e.g. 'co'")
    direction: Direction = Field("above", description="'above' for high limits, 'below' for low ones (O2)")
    levels: list[Level] = Field(min_length=1, max_length=3, description="One level per severity")

    @model_validator(mode="after")
    def _check_levels(self) -> LevelRule:
        check_levels(self.levels, self.direction)
        return self


class ThresholdRule(LevelRule):
    """A metric of a device against severity levels."""

    type: Literal["threshold"] = "threshold"


class ThresholdTrack(Track):
    __slots__ = (
        "count",
        "csince",
        "ev",
        "hi",
        "idle",
        "last_ts",
        "last_value",
        "lo",
        "low",
        "samples",
        "sign",
        "since",
        "st",
        "unit",
    )

    def __init__(self, src: Source, ev: ThresholdEvaluator, unit: str) -> None:
        super().__init__(src)
        self.ev = ev
        self.unit = unit
        self.low = ev.ladder.low
        self.sign = ev.ladder.sign
        self.idle = True
        self.st: list[int] = []
        self.since: list[int] = []
        self.count: list[int] = []
        self.csince: list[int] = []
        self.samples: deque[tuple[int, float]] = deque(maxlen=ev.env.settings.evidence_samples)
        self.last_ts = 0
        self.last_value = 0.0
        self.lo = self.hi = INF  # while firing steadily: the band [lo, hi) in which a sample changes nothing

    def sample(self, ts: int, value: float) -> AlarmSignal | None:
        """Hot path: an idle source below the lowest trigger costs one multiply and one comparison;
        a source firing steadily, a few more (the sample is kept for the evidence)."""
        x = value * self.sign
        if self.idle:
            if x < self.low:
                return None
        elif self.lo <= x < self.hi and self.emitted == "firing":  # not after a no_data
            self.samples.append((ts, value))
            self.last_ts, self.last_value = ts, value
            return None
        return self.ev.step(self, ts, value, x)

    def start(self) -> None:
        n = len(self.ev.ladder.trig)
        self.idle = False
        self.st, self.since, self.count, self.csince = [0] * n, [0] * n, [0] * n, [0] * n
        self.samples.clear()
        self.ev.active[self.src.id] = self

    def reset(self) -> None:
        self.idle = True
        self.lo = self.hi = INF
        self.st = self.since = self.count = self.csince = []
        self.ev.active.pop(self.src.id, None)

    def dump(self) -> dict[str, Any] | None:
        if self.idle and self.emitted == "idle":
            return None
        return {
            **(super().dump() or {}),
            "st": self.st,
            "since": self.since,
            "count": self.count,
            "csince": self.csince,
            "samples": list(self.samples),
            "last": [self.last_ts, self.last_value],
        }

    def load(self, data: dict[str, Any]) -> None:
        super().load(data)
        if data.get("st"):
            self.start()
            self.st, self.since = list(data["st"]), list(data["since"])
            self.count, self.csince = list(data["count"]), list(data["csince"])
            self.samples.extend((int(t), float(v)) for t, v in data.get("samples", []))
            self.last_ts, self.last_value = int(data["last"][0]), float(data["last"][1])


class ThresholdEvaluator(TrackedEvaluator[ThresholdTrack]):
    needs_tick = True

    def __init__(self, rule: Rule, env: Env) -> None:
        assert isinstance(rule, LevelRule)
        super().__init__(rule, env)
        self.cfg = rule
        self.ladder = Ladder(rule.levels, rule.direction)
        self.active: dict[str, ThresholdTrack] = {}
        self.hold_ms = int(env.settings.sample_hold_s * 1000)
        # evidence parts that never change, dumped once (signals are built often under flapping load)
        self.level_ev = [lv.model_dump(mode="json") for lv in self.ladder.levels]
        self.levels_ev = [
            lv.model_dump(mode="json", exclude={"bounds", "basis"}) for lv in self.ladder.levels
        ]

    def applies_to(self, place: DevicePlace) -> bool:
        return self.cfg.metric in place.metrics

    def make_track(self, src: Source) -> ThresholdTrack:
        unit = self.env.twin.devices[src.id].metrics[self.cfg.metric].unit
        return ThresholdTrack(src, self, unit)

    def what(self) -> str:
        """What the figure is called in messages."""
        return label(self.cfg.metric)

    def bind(self, sources: Sequence[Source], now: int) -> list[AlarmSignal]:
        out = super().bind(sources, now)
        self.active = {sid: t for sid, t in self.active.items() if sid in self.tracks}
        return out

    def subscriptions(self) -> Subscriptions:
        subs = Subscriptions()
        subs.readings = [(t.src.id, self.cfg.metric, t.sample) for t in self.tracks.values()]
        return subs

    def step(self, t: ThresholdTrack, ts: int, value: float, x: float) -> AlarmSignal | None:
        if t.idle:
            t.start()
        t.samples.append((ts, value))
        t.last_ts, t.last_value = ts, value
        self.ladder.step(t.st, t.since, t.count, t.csince, x, ts)
        return self.settle(t, ts)

    def tick(self, now: int) -> list[AlarmSignal]:
        out = []
        for t in list(self.active.values()):
            dev_now = now - self.env.offset(t.src.id)
            if dev_now - t.last_ts > self.hold_ms or dev_now <= t.last_ts or t.emitted == "no_data":
                continue  # stale or silent: only a new reading may decide
            self.ladder.advance(t.st, t.since, t.count, t.csince, dev_now)
            sig = self.settle(t, dev_now)
            if sig is not None:
                out.append(sig)
        return out

    def settle(self, t: ThresholdTrack, ts: int) -> AlarmSignal | None:
        lad = self.ladder
        k = lad.top(t.st, (ACTIVE, CLEARING))
        state: Literal["idle", "pending", "firing"] = "firing"
        if k < 0:
            k = lad.top(t.st, (PENDING,))
            state = "pending" if k >= 0 else "idle"
        sev = lad.levels[k].severity if k >= 0 else None
        was = t.emitted
        kind = t.decide(state, sev)
        sig = None if kind is None else self._signal(kind, t, k, ts, was)
        if state == "idle":
            t.reset()
        elif state == "firing" and t.emitted == "firing" and self._steady(t.st, k):
            # every level up to k active, every higher one idle: until a sample leaves [clear k,
            # trigger k+1) nothing can change, so the track may skip the ladder
            t.lo = lad.clear[k]
            t.hi = lad.trig[k + 1] if k + 1 < len(lad.trig) else INF
        else:
            t.lo = t.hi = INF
        return sig

    @staticmethod
    def _steady(st: list[int], k: int) -> bool:
        return all(s == ACTIVE for s in st[: k + 1]) and all(s == IDLE for s in st[k + 1 :])

    def _signal(self, kind: SignalKind, t: ThresholdTrack, k: int, ts: int, was: str) -> AlarmSignal:
        cfg = self.cfg
        word = cfg.direction
        name = self.what()
        v, u = fmt(t.last_value), t.unit
        evidence: dict[str, Any] = {
            "device": t.src.id,
            "metric": cfg.metric,
            "unit": u,
            "direction": word,
            "value": t.last_value,
            "samples": [[ts_, v_] for ts_, v_ in t.samples],
            "levels": self.levels_ev,
        }
        if kind == SignalKind.RESOLVED:
            first = self.ladder.levels[0]
            back = "below" if word == "above" else "above"
            if was == "pending":
                msg = (
                    f"{name} back to {v} {u} in {t.src.space_name} before the on-delay ran out ({t.src.name})"
                )
            else:
                held = f" for {fmt_duration(first.off_delay_s * 1000)}" if first.off_delay_s else ""
                clear = f"{fmt(first.clear_level)} {u}{held}"
                msg = f"{name} back to {v} {u} in {t.src.space_name}, {back} {clear} ({t.src.name})"
            return self.emit(kind, t.src, ts, msg, evidence)
        lv = self.ladder.levels[k]
        evidence["level"] = self.level_ev[k]
        evidence["beyond_since_ts"] = t.since[k]
        evidence["duration_s"] = (ts - t.since[k]) / 1000
        trig = f"{fmt(lv.trigger)} {u}"
        if kind == SignalKind.FIRING:
            dur = fmt_duration(ts - t.since[k])
            msg = f"{name} {v} {u} in {t.src.space_name} {word} {trig} for {dur} ({t.src.name})"
        else:
            wait = fmt_duration(lv.on_delay_s * 1000) + (f", {lv.repeat} samples" if lv.repeat > 1 else "")
            msg = (
                f"{name} {v} {u} in {t.src.space_name} {word} {trig}; {lv.severity.value} if it stays "
                f"{word} for {wait} ({t.src.name})"
            )
        return self.emit(kind, t.src, ts, msg, evidence, lv.severity)


PLUGIN = KindPlugin(rule=ThresholdRule, evaluator=ThresholdEvaluator)
