"""Calibration and bump-test rules: a gas sensor whose last calibration (or bump test) is older than
its interval is overdue.  Dates come from the twin (device meta `calibrated_on`, `bump_test_on`,
ISO dates); they are checked on tick, at most every `check_every_s`, against today's date in China
time (a date's day ends at midnight Asia/Shanghai).
"""

from __future__ import annotations

import heapq
from collections.abc import Sequence
from datetime import date, datetime, timedelta
from typing import Any, Literal

from pydantic import Field

from core.alarms import AlarmSignal, Severity, SignalKind
from rules.kinds import KindPlugin
from rules.kinds.base import Env, Subscriptions, Track, TrackedEvaluator
from rules.model import Rule
from rules.settings import CHINA_TZ, zone
from rules.source import Source
from twin.twin import DevicePlace


class CalibrationRule(Rule):
    """Calibration or bump test overdue, from the device's meta dates."""

    type: Literal["calibration"] = "calibration"
    field: Literal["calibrated_on", "bump_test_on"] = Field(description="Device meta date that is checked")
    interval_days: int = Field(ge=1, le=3650, description="Days a calibration / bump test stays valid")
    missing: Literal["overdue", "ignore"] = Field(
        "overdue", description="A device without the date: overdue (no record is no proof) or ignored"
    )
    severity: Severity = Field(Severity.WARNING, description="Severity of the overdue alarm")
    check_every_s: float = Field(3600.0, gt=0, description="How often dates are checked, s")


def _as_date(value: Any) -> date | None:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value.strip()[:10])
        except ValueError:
            return None
    return None


class CalibrationEvaluator(TrackedEvaluator[Track]):
    """Due dates are fixed by the twin, so they are computed once at bind and kept in a heap: a check
    pops the devices that fell due since the last one instead of looking at every device again."""

    needs_tick = True

    def __init__(self, rule: Rule, env: Env) -> None:
        assert isinstance(rule, CalibrationRule)
        super().__init__(rule, env)
        self.cfg = rule
        self.next_check = 0
        self.queue: list[tuple[int, str]] = []  # (due date ordinal, device), earliest first

    def applies_to(self, place: DevicePlace) -> bool:
        return bool(place.metrics) and (self.cfg.missing == "overdue" or self.cfg.field in place.spec.meta)

    def make_track(self, src: Source) -> Track:
        return Track(src)

    def subscriptions(self) -> Subscriptions:
        return Subscriptions()

    def bind(self, sources: Sequence[Source], now: int) -> list[AlarmSignal]:
        out = super().bind(sources, now)
        self._queue()
        return out

    def restore(self, data: dict[str, Any]) -> None:
        super().restore(data)
        self._queue()

    def _queue(self) -> None:
        self.next_check = 0  # check on the next tick
        self.queue = []
        for sid, t in self.tracks.items():
            _, due = self._dates(sid)
            if t.emitted == "idle" and (due is not None or self.cfg.missing == "overdue"):
                self.queue.append((due.toordinal() if due else 0, sid))  # no record: due since ever
        heapq.heapify(self.queue)

    def _dates(self, device_id: str) -> tuple[date | None, date | None]:
        done = _as_date(self.env.twin.devices[device_id].spec.meta.get(self.cfg.field))
        return done, None if done is None else done + timedelta(days=self.cfg.interval_days)

    def on_silent(self, device_id: str, now: int, reason: str) -> list[AlarmSignal]:
        return []  # dates, not readings: silence changes nothing

    def tick(self, now: int) -> list[AlarmSignal]:
        if now < self.next_check:
            return []
        self.next_check = now + int(self.cfg.check_every_s * 1000)
        today = datetime.fromtimestamp(now / 1000, zone(CHINA_TZ)).date()
        out = []
        while self.queue and self.queue[0][0] < today.toordinal():
            _, sid = heapq.heappop(self.queue)
            t = self.tracks[sid]
            if t.decide("firing", self.cfg.severity) is not None:
                out.append(self._overdue(t, today, now))
        return out

    def _overdue(self, t: Track, today: date, now: int) -> AlarmSignal:
        cfg = self.cfg
        done, due = self._dates(t.src.id)
        what = "calibration" if cfg.field == "calibrated_on" else "bump test"
        evidence: dict[str, Any] = {
            "device": t.src.id,
            "field": cfg.field,
            "recorded": None if done is None else done.isoformat(),
            "interval_days": cfg.interval_days,
            "due": None if due is None else due.isoformat(),
        }
        if due is None:
            msg = (
                f"{t.src.name} in {t.src.space_name} has no {what} date on record (meta '{cfg.field}'); "
                f"a {what} every {cfg.interval_days} days is required"
            )
        else:
            late = (today - due).days
            evidence["days_overdue"] = late
            msg = (
                f"{what.capitalize()} of {t.src.name} in {t.src.space_name} overdue by {late} days "
                f"(last {done}, every {cfg.interval_days} days)"
            )
        return self.emit(SignalKind.FIRING, t.src, now, msg, evidence, cfg.severity)


PLUGIN = KindPlugin(rule=CalibrationRule, evaluator=CalibrationEvaluator)
