"""No-data rules: a device is offline when silent past its heartbeat timeout, or when its last-will
(or its gateway's) arrives.  Fires with category 'offline'; resolves when the device is heard again.

Silence is tracked without scanning every device each tick: devices sit in an ordered dict by the
time they were last heard, so a tick looks only at the oldest until it finds one still fresh.
Devices never heard since the engine started count from the first tick.  When this rule declares a
device silent, the engine tells every other rule watching it, and those that were pending or firing
say NO_DATA (see docs/rules.md).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Generator, Sequence
from typing import Any, Literal

from pydantic import Field

from core.alarms import AlarmSignal, Severity, SignalKind
from core.steps import finish
from rules.kinds import KindPlugin
from rules.kinds.base import Env, Evaluator, Subscriptions
from rules.model import Rule
from rules.source import Source, fmt_duration

_NEVER = -1


class NoDataRule(Rule):
    """Heartbeat timeout and last-will of devices."""

    type: Literal["no_data"] = "no_data"
    timeout_s: float | None = Field(
        600.0, gt=0, description="Silence longer than this is offline, s; unset: only the last-will counts"
    )
    last_will: bool = Field(
        True, description="A last-will (the device's or its gateway's) is offline at once"
    )
    severity: Severity = Field(Severity.WARNING, description="Severity of the offline alarm")


class NoDataEvaluator(Evaluator):
    reports_silence = True
    needs_tick = True

    def __init__(self, rule: Rule, env: Env) -> None:
        assert isinstance(rule, NoDataRule)
        super().__init__(rule, env)
        self.cfg = rule
        self.timeout_ms = None if rule.timeout_s is None else int(rule.timeout_s * 1000)
        self.recent: OrderedDict[str, int] = OrderedDict()  # device -> last heard, oldest first
        self.silent: dict[str, tuple[int, str]] = {}  # device -> (last heard or will time, reason)
        self.started: int | None = None  # first tick: devices never heard count from then

    def bind(self, sources: Sequence[Source], now: int) -> list[AlarmSignal]:
        wanted = {s.id: s for s in sources}
        out = []
        for dev in [d for d in self.silent if d not in wanted]:
            out.append(self._back(self.sources[dev], now, "the rule no longer applies to this device"))
        self.sources = wanted
        self._rebuild()
        return out

    def _rebuild(self) -> None:
        never = _NEVER if self.started is None else self.started
        heard = [(d, self.env.last_received(d) or never) for d in self.sources if d not in self.silent]
        self.recent = OrderedDict(sorted(heard, key=lambda item: item[1]))

    def subscriptions(self) -> Subscriptions:
        subs = Subscriptions()
        subs.seen = [(dev, self.seen) for dev in self.sources]
        if self.cfg.last_will:
            subs.availability = list(self.sources)
        return subs

    def seen(self, dev: str, when: int) -> AlarmSignal | None:
        recent = self.recent
        recent[dev] = when
        recent.move_to_end(dev)
        if dev in self.silent:
            return self._back(self.sources[dev], when, "reporting again")
        return None

    def on_availability(self, device_id: str, online: bool, now: int, reason: str) -> list[AlarmSignal]:
        if online or device_id in self.silent or device_id not in self.sources:
            return []
        self.recent.pop(device_id, None)
        return [self._gone(device_id, now, now, reason)]

    def tick(self, now: int) -> list[AlarmSignal]:
        if self.timeout_ms is None:
            return []
        if self.started is None:  # devices never heard count from the first tick, kept across restarts
            self.started = now
            self._rebuild()
        limit, out, recent = now - self.timeout_ms, [], self.recent
        while recent:
            dev, heard = next(iter(recent.items()))
            if heard >= limit:
                break
            recent.popitem(last=False)
            out.append(self._gone(dev, heard, now, "heartbeat timeout"))
        return out

    def _gone(self, dev: str, heard: int, now: int, reason: str) -> AlarmSignal:
        self.silent[dev] = (heard, reason)
        src = self.sources[dev]
        last = self.env.last_received(dev)
        if reason == "heartbeat timeout":
            assert self.timeout_ms is not None
            what = f"silent for {fmt_duration(now - heard)} (timeout {fmt_duration(self.timeout_ms)})"
        else:
            what = f"offline: {reason} received"
        evidence: dict[str, Any] = {
            "device": dev,
            "reason": reason,
            "last_heard_ts": last,
            "timeout_s": self.cfg.timeout_s,
        }
        msg = f"{src.name} in {src.space_name} is {what}"
        return self.emit(SignalKind.FIRING, src, now, msg, evidence, self.cfg.severity)

    def _back(self, src: Source, now: int, why: str) -> AlarmSignal:
        since, reason = self.silent.pop(src.id)
        msg = f"{src.name} in {src.space_name}: {why} (was offline: {reason})"
        evidence = {"device": src.id, "reason": why, "offline_since_ts": since}
        return self.emit(SignalKind.RESOLVED, src, now, msg, evidence)

    def retire(self, now: int, reason: str) -> list[AlarmSignal]:
        out = [self._back(self.sources[d], now, reason) for d in list(self.silent) if d in self.sources]
        self.silent.clear()
        self.recent.clear()
        return out

    def snapshot(self) -> dict[str, Any]:
        return finish(self.snapshot_in_steps(len(self.silent) or 1))

    def snapshot_in_steps(self, chunk: int) -> Generator[None, None, dict[str, Any]]:
        """As `snapshot`, a chunk of silent devices at a time: a large site has many."""
        silent: dict[str, tuple[int, str]] = {}
        ids = list(self.silent)  # ids, not (id, entry) pairs the collector would walk until the end
        for start in range(0, len(ids), chunk):
            for d in ids[start : start + chunk]:
                entry = self.silent.get(d)  # heard from again between steps: no longer silent
                if entry is not None:
                    silent[d] = entry
            yield
        return {"silent": silent, "started": self.started}

    def restore(self, data: dict[str, Any]) -> None:
        silent = data.get("silent", {})
        self.silent = {d: (int(t), str(why)) for d, (t, why) in silent.items() if d in self.sources}
        started = data.get("started")
        self.started = None if started is None else int(started)
        self._rebuild()


PLUGIN = KindPlugin(rule=NoDataRule, evaluator=NoDataEvaluator)
