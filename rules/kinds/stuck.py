"""Stuck-sensor rules: a reading that varies by no more than `epsilon` for `duration_s` is suspect.

A run starts at a reading; while every later reading stays within a band of width `epsilon` the run
goes on; once it has lasted `duration_s` the rule fires (category sensor_fault).  A reading outside
the band starts a new run and resolves.  Clean air reads a flat zero on CO, H2S and combustible-gas
sensors, which is healthy: readings at or below `ignore_at_or_below` never count as stuck (a
sensor stuck at zero is what bump tests catch, see the calibration rules).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from core.alarms import AlarmSignal, Severity
from rules.kinds import KindPlugin
from rules.kinds.base import Env, Subscriptions, Track, TrackedEvaluator
from rules.model import Rule
from rules.source import Source, fmt, fmt_duration, label
from twin.twin import DevicePlace


class StuckRule(Rule):
    """No variation beyond epsilon for too long."""

    type: Literal["stuck"] = "stuck"
    metrics: list[str] = Field(
        min_length=1, description="Metrics watched; a device is checked on those it has"
    )
    epsilon: float = Field(
        gt=0, description="Largest spread (max - min) of a stuck run, in the metric's unit"
    )
    duration_s: float = Field(gt=0, description="How long a run must last to be stuck, s")
    ignore_at_or_below: float | None = Field(
        None, description="Readings at or below this are normal when flat (clean-air zero)"
    )
    severity: Severity = Field(Severity.WARNING, description="Severity of the stuck-sensor alarm")


class Run:
    """One metric of one device: the current run of readings within epsilon."""

    __slots__ = ("dur_ms", "eps", "floor", "hi", "last", "lo", "metric", "since", "stuck", "track")

    def __init__(self, track: StuckTrack, metric: str, cfg: StuckRule) -> None:
        self.track, self.metric = track, metric
        self.eps, self.dur_ms = cfg.epsilon, int(cfg.duration_s * 1000)
        self.floor = float("-inf") if cfg.ignore_at_or_below is None else cfg.ignore_at_or_below
        self.since = -1  # start of the current run; -1: no run
        self.lo = self.hi = self.last = 0.0
        self.stuck = False

    def sample(self, ts: int, value: float) -> AlarmSignal | None:
        self.last = value
        if value <= self.floor:
            self.since = -1
            return self._flip(ts, False) if self.stuck else None
        lo, hi = min(self.lo, value), max(self.hi, value)
        if self.since < 0 or hi - lo > self.eps:
            self.since, self.lo, self.hi = ts, value, value
            return self._flip(ts, False) if self.stuck else None
        self.lo, self.hi = lo, hi
        if not self.stuck and ts - self.since >= self.dur_ms:
            return self._flip(ts, True)
        return None

    def _flip(self, ts: int, stuck: bool) -> AlarmSignal | None:
        self.stuck = stuck
        return self.track.ev.change(self.track, self, ts)

    def dump(self) -> list[Any]:
        return [self.since, self.lo, self.hi, self.last, self.stuck]

    def load(self, data: list[Any]) -> None:
        since, lo, hi, last, stuck = data
        self.since, self.lo, self.hi, self.last, self.stuck = (
            int(since),
            float(lo),
            float(hi),
            float(last),
            bool(stuck),
        )


class StuckTrack(Track):
    __slots__ = ("ev", "runs")

    def __init__(self, src: Source, ev: StuckEvaluator, metrics: list[str]) -> None:
        super().__init__(src)
        self.ev = ev
        self.runs = {m: Run(self, m, ev.cfg) for m in metrics}

    def dump(self) -> dict[str, Any] | None:
        runs = {m: r.dump() for m, r in self.runs.items() if r.since >= 0 or r.stuck}
        if not runs and self.emitted == "idle":
            return None
        return {**(super().dump() or {}), "runs": runs}

    def load(self, data: dict[str, Any]) -> None:
        super().load(data)
        for m, run in data.get("runs", {}).items():
            if m in self.runs:
                self.runs[m].load(run)


class StuckEvaluator(TrackedEvaluator[StuckTrack]):
    def __init__(self, rule: Rule, env: Env) -> None:
        assert isinstance(rule, StuckRule)
        super().__init__(rule, env)
        self.cfg = rule

    def applies_to(self, place: DevicePlace) -> bool:
        return any(m in place.metrics for m in self.cfg.metrics)

    def make_track(self, src: Source) -> StuckTrack:
        have = self.env.twin.devices[src.id].metrics
        return StuckTrack(src, self, [m for m in self.cfg.metrics if m in have])

    def subscriptions(self) -> Subscriptions:
        subs = Subscriptions()
        subs.readings = [(t.src.id, m, r.sample) for t in self.tracks.values() for m, r in t.runs.items()]
        return subs

    def change(self, t: StuckTrack, run: Run, ts: int) -> AlarmSignal | None:
        stuck = [r for r in t.runs.values() if r.stuck]
        sev = self.cfg.severity if stuck else None
        kind = t.decide("firing" if stuck else "idle", sev)
        if kind is None:
            return None
        u = self.env.twin.devices[t.src.id].metrics[run.metric].unit
        name = label(run.metric)
        evidence: dict[str, Any] = {
            "device": t.src.id,
            "epsilon": self.cfg.epsilon,
            "duration_s": self.cfg.duration_s,
            "stuck": {
                r.metric: {"value": r.last, "run_since_ts": r.since, "min": r.lo, "max": r.hi} for r in stuck
            },
        }
        if stuck:
            msg = (
                f"{t.src.name} in {t.src.space_name} may be stuck: {name} has stayed at {fmt(run.last)} {u} "
                f"(within {fmt(self.cfg.epsilon)} {u}) for {fmt_duration(ts - run.since)}; "
                "check or bump-test it"
            )
        else:
            msg = f"{t.src.name} in {t.src.space_name}: {name} varies again ({fmt(run.last)} {u})"
        return self.emit(kind, t.src, ts, msg, evidence, sev)


PLUGIN = KindPlugin(rule=StuckRule, evaluator=StuckEvaluator)
