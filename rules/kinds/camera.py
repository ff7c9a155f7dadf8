"""Camera detection rules: no helmet, a fall, smoke or fire, intrusion, an unregistered person.

Detections arrive as events (new, update, end) with one event id per incident.  An event counts
when its label is one of `labels`, its best score reaches `min_score`, it is in one of `zones` (if
given), it has lasted `on_delay_s`, and, for rules limited to working hours, it started within
them (China time by default).  The camera fires while one or more events count, and resolves when
the last of them ends (an 'end' message), or when none was heard of for `event_timeout_s`.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from core.alarms import AlarmSignal, Severity
from core.contract import Detection, DetectionEventType, DetectionLabel
from rules.kinds import KindPlugin
from rules.kinds.base import Env, Subscriptions, Track, TrackedEvaluator
from rules.model import Rule
from rules.settings import WorkingHours
from rules.source import Source, fmt_duration
from twin.kinds import DeviceKind
from twin.twin import DevicePlace

_WORDS = {
    "no_helmet": "person without a safety helmet",
    "fall": "person fall",
    "smoke": "smoke",
    "fire": "fire",
    "intrusion": "intrusion",
    "person": "person",
    "unregistered_person": "unregistered person",
    "climbing": "climbing",
}


class CameraRule(Rule):
    """Camera detections of given labels, optionally in zones and working hours."""

    type: Literal["camera"] = "camera"
    labels: list[DetectionLabel] = Field(min_length=1, description="Detection labels that count")
    zones: list[str] | None = Field(None, description="Camera zones the object must be in; unset: anywhere")
    min_score: float = Field(
        0.5, ge=0, le=1, description="Least best-score (top_score) of an event that counts"
    )
    on_delay_s: float = Field(0.0, ge=0, le=3600, description="An event must have lasted this long, s")
    working_hours_only: bool = Field(False, description="Only events that start within working hours count")
    working_hours: WorkingHours | None = Field(
        None, description="Working hours of this rule; unset: the engine's (settings.working_hours)"
    )
    event_timeout_s: float = Field(600.0, gt=0, description="An event not heard of for this long is over, s")
    severity: Severity = Field(Severity.WARNING, description="Severity while an event counts")


class CameraTrack(Track):
    __slots__ = ("events",)

    def __init__(self, src: Source) -> None:
        super().__init__(src)
        self.events: dict[str, dict[str, Any]] = {}  # event id -> what the evidence shows, heard_ts

    def dump(self) -> dict[str, Any] | None:
        if not self.events and self.emitted == "idle":
            return None
        return {**(super().dump() or {}), "events": self.events}

    def load(self, data: dict[str, Any]) -> None:
        super().load(data)
        self.events = dict(data.get("events", {}))


class CameraEvaluator(TrackedEvaluator[CameraTrack]):
    needs_tick = True

    def __init__(self, rule: Rule, env: Env) -> None:
        assert isinstance(rule, CameraRule)
        super().__init__(rule, env)
        self.cfg = rule
        self.hours = rule.working_hours or env.settings.working_hours

    def applies_to(self, place: DevicePlace) -> bool:
        return place.kind == DeviceKind.CAMERA

    def make_track(self, src: Source) -> CameraTrack:
        return CameraTrack(src)

    def subscriptions(self) -> Subscriptions:
        return Subscriptions(detections=list(self.tracks))

    def on_silent(self, device_id: str, now: int, reason: str) -> list[AlarmSignal]:
        return []  # a silent camera is the no-data rules' business; its events time out

    def on_detection(self, camera_id: str, det: Detection, now: int) -> list[AlarmSignal]:
        t = self.tracks.get(camera_id)
        if t is None or det.label not in self.cfg.labels:
            return []
        if det.type == DetectionEventType.END:
            t.events.pop(det.event_id, None)
        elif self._counts(det):
            t.events[det.event_id] = {
                "event_id": det.event_id,
                "label": det.label.value,
                "start_ts": det.start_ts,
                "ts": det.ts,
                "top_score": det.top_score,
                "zones": list(det.zones),
                "snapshot_url": det.snapshot_url,
                "heard_ts": now,
                "lasted": det.ts - det.start_ts,
            }
        else:
            return []
        sig = self._settle(t, det.ts)
        return [sig] if sig is not None else []

    def _counts(self, det: Detection) -> bool:
        cfg = self.cfg
        if det.top_score < cfg.min_score:
            return False
        if cfg.zones is not None and not set(det.zones) & set(cfg.zones):
            return False
        return not cfg.working_hours_only or self.hours.contains(det.start_ts)

    def tick(self, now: int) -> list[AlarmSignal]:
        out = []
        limit = now - int(self.cfg.event_timeout_s * 1000)
        for t in self.tracks.values():
            if not t.events:
                continue
            stale = [eid for eid, e in t.events.items() if e["heard_ts"] < limit]
            for eid in stale:
                del t.events[eid]
            sig = self._settle(t, now) if stale else None
            if sig is not None:
                out.append(sig)
        return out

    def _settle(self, t: CameraTrack, ts: int) -> AlarmSignal | None:
        delay = int(self.cfg.on_delay_s * 1000)
        held = [e for e in t.events.values() if e["lasted"] >= delay]
        state: Literal["idle", "pending", "firing"] = (
            "firing" if held else ("pending" if t.events else "idle")
        )
        sev = self.cfg.severity if t.events else None
        kind = t.decide(state, sev)
        if kind is None:
            return None
        events = sorted(t.events.values(), key=lambda e: e["start_ts"])
        evidence: dict[str, Any] = {
            "camera": t.src.id,
            "events": events[-10:],
            "labels": [x.value for x in self.cfg.labels],
            "zones": self.cfg.zones,
            "min_score": self.cfg.min_score,
        }
        if self.cfg.working_hours_only:
            evidence["working_hours"] = self.hours.model_dump(mode="json")
        if state == "idle":
            msg = f"{self.cfg.name}: over at {t.src.name} in {t.src.space_name}"
        else:
            first = (held or events)[0]
            evidence["label"] = first["label"]  # picks the site broadcast ("please wear your helmet")
            what = _WORDS.get(first["label"], first["label"])
            zone_text = f" (zone {', '.join(first['zones'])})" if first["zones"] else ""
            lasted = f" for {fmt_duration(first['lasted'])}" if first["lasted"] >= 1000 else ""
            msg = (
                f"{what.capitalize()} seen by {t.src.name} in {t.src.space_name}{zone_text}{lasted}, "
                f"score {first['top_score']:.2f}"
            )
        return self.emit(kind, t.src, ts, msg, evidence, sev)


PLUGIN = KindPlugin(rule=CameraRule, evaluator=CameraEvaluator)
