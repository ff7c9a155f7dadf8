"""Panic-button rules: a press is an emergency at once, with the people to call in the evidence.

A reading of `metric` (default `pressed`) equal to `value` (1) fires at the rule's severity
(emergency) with no delay, even when the reading arrives late.  Presses within `rearm_s` of the last
one are the same call; a press after that fires again.  The alarm is latched: it does not resolve by
itself (the alarm's owner acknowledges and closes it), unless `resolve_on_release` is set, in which
case a reading of 0 resolves it.  Evidence lists the device's own contacts (family) and the site's
community party with its contacts, and the responsible party.
"""

from __future__ import annotations

from functools import partial
from typing import Any, Literal

from pydantic import Field

from core.alarms import AlarmSignal, Severity, SignalKind
from rules.kinds import KindPlugin
from rules.kinds.base import Env, Subscriptions, Track, TrackedEvaluator
from rules.model import Rule
from rules.source import Source
from twin.twin import DevicePlace


class PanicRule(Rule):
    """One-key call of an elderly resident (or any panic button)."""

    type: Literal["panic"] = "panic"
    metric: str = Field("pressed", description="Metric a press is reported on")
    value: float = Field(1.0, description="Value that means pressed")
    severity: Severity = Field(Severity.EMERGENCY, description="Severity of a press")
    rearm_s: float = Field(60.0, ge=0, le=3600, description="Presses within this of the last are one call, s")
    resolve_on_release: bool = Field(
        False, description="A reading of 0 resolves (default: latched until handled)"
    )


class PanicTrack(Track):
    __slots__ = ("last_press", "presses")

    def __init__(self, src: Source) -> None:
        super().__init__(src)
        self.last_press = -1
        self.presses = 0

    def dump(self) -> dict[str, Any] | None:
        if self.last_press < 0:
            return None
        return {**(super().dump() or {}), "last_press": self.last_press, "presses": self.presses}

    def load(self, data: dict[str, Any]) -> None:
        super().load(data)
        self.last_press, self.presses = int(data["last_press"]), int(data["presses"])


class PanicEvaluator(TrackedEvaluator[PanicTrack]):
    def __init__(self, rule: Rule, env: Env) -> None:
        assert isinstance(rule, PanicRule)
        super().__init__(rule, env)
        self.cfg = rule

    def applies_to(self, place: DevicePlace) -> bool:
        return self.cfg.metric in place.metrics

    def make_track(self, src: Source) -> PanicTrack:
        return PanicTrack(src)

    def subscriptions(self) -> Subscriptions:
        subs = Subscriptions()
        subs.late_readings = [
            (t.src.id, self.cfg.metric, partial(self.sample, t)) for t in self.tracks.values()
        ]
        return subs

    def sample(self, t: PanicTrack, ts: int, value: float) -> AlarmSignal | None:
        if value != self.cfg.value:
            if self.cfg.resolve_on_release and value == 0 and t.busy:
                t.decide("idle", None)
                msg = f"{t.src.name} in {t.src.space_name}: released"
                return self.emit(SignalKind.RESOLVED, t.src, ts, msg, {"device": t.src.id})
            return None
        if t.last_press >= 0 and abs(ts - t.last_press) < self.cfg.rearm_s * 1000:
            t.last_press = max(t.last_press, ts)
            return None  # the same call: pressed again, or a late copy
        t.last_press, t.presses = ts, t.presses + 1
        t.emitted, t.esev = "firing", self.cfg.severity
        return self._press(t, ts)

    def on_silent(self, device_id: str, now: int, reason: str) -> list[AlarmSignal]:
        return []  # a call stays latched whatever the button does next

    def _press(self, t: PanicTrack, ts: int) -> AlarmSignal:
        twin = self.env.twin
        place = twin.devices[t.src.id]
        site = twin.sites[place.site]
        family = [c.model_dump(exclude_none=True) for c in place.spec.contacts]
        community = self._party(site.parties.community)
        owner = self._party(twin.responsible_party(place.site, place.building))
        floor = next(
            (
                f.name
                for b in site.buildings
                if b.id == place.building
                for f in b.floors
                if f.level == place.floor_level
            ),
            None,
        )
        building = twin.buildings[place.building].name if place.building else ""
        where = ", ".join(x for x in (t.src.space_name, building, floor, site.name) if x)
        calls = [
            f"{c['name']}"
            + (f" ({c['role']})" if c.get("role") else "")
            + (f" {c['phone']}" if c.get("phone") else "")
            for c in family
        ]
        if community:
            calls.append(str(community["name"]))
        msg = f"Panic button pressed: {t.src.name}, {where}" + (f"; call {', '.join(calls)}" if calls else "")
        evidence: dict[str, Any] = {
            "device": t.src.id,
            "pressed_ts": ts,
            "press_count": t.presses,
            "latched": not self.cfg.resolve_on_release,
            "place": {**t.src.where(), "building_name": building, "floor": floor, "site_name": site.name},
            "contacts": family,
            "community": community,
            "responsible_party": owner,
        }
        return self.emit(SignalKind.FIRING, t.src, ts, msg, evidence, self.cfg.severity)

    def _party(self, party_id: str | None) -> dict[str, Any] | None:
        party = self.env.twin.parties.get(party_id) if party_id else None
        if party is None:
            return None
        return {
            "id": party.id,
            "name": party.name,
            "kind": party.kind,
            "contacts": [c.model_dump(exclude_none=True) for c in party.contacts],
        }


PLUGIN = KindPlugin(rule=PanicRule, evaluator=PanicEvaluator)
