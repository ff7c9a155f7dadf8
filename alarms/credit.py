"""Credit score per responsible party (Guanlan): deductions, recovery, key supervision and training.

Every party starts at `initial` (100).  Points go for a work order that goes overdue and for a
repeated hazard (the same rule at the same place again within the window).  A clean period (no
deduction and no overdue open order) gives points back, up to `initial`.  Below 80 a party is on the
key-supervision list; below 60 it must take safety training.  Every change is a `CreditEvent`.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Collection, Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from alarms.places import place_id
from alarms.settings import CreditSettings
from core.alarms import Alarm, CreditEvent, WorkOrder

log = logging.getLogger(__name__)

HISTORY_KEEP = 200  # credit events kept in memory per party; the store keeps them all


class PartyCredit(BaseModel):
    """A party's standing, as the supervision lists show it."""

    model_config = ConfigDict(frozen=True)

    party_id: str
    name: str = Field(description="Party name from the twin, else its id")
    score: float = Field(description="Current credit score, points")
    key_supervision: bool = Field(description="Below the key-supervision threshold (more inspections)")
    training_required: bool = Field(description="Below the training threshold (training and interview)")


class CreditBook:
    """Scores in memory; the store's credit events are the durable record."""

    def __init__(self, settings: CreditSettings) -> None:
        self.settings = settings
        self._scores: dict[str, float] = {}
        self._anchor: dict[str, int] = {}  # start of the current clean period, for parties below initial
        self._last_hazard: dict[str, int] = {}  # "rule|place" -> last time it became active
        self._history: dict[str, deque[CreditEvent]] = {}  # recent events per party, newest last

    def history(self, party_id: str) -> list[CreditEvent]:
        """The party's recent credit events in memory (since start), oldest first."""
        return list(self._history.get(party_id, ()))

    def score(self, party_id: str) -> float:
        """Current score (initial for a party with no history)."""
        return self._scores.get(party_id, self.settings.initial)

    def scores(self) -> dict[str, float]:
        """Scores of every party with a history."""
        return dict(self._scores)

    def standing(self, party_id: str, name: str) -> PartyCredit:
        """The party's score and lists."""
        score = self.score(party_id)
        return PartyCredit(
            party_id=party_id,
            name=name,
            score=score,
            key_supervision=score < self.settings.key_supervision_below,
            training_required=score < self.settings.training_below,
        )

    def below(self, threshold: float) -> list[str]:
        """Parties scoring below `threshold`, lowest first."""
        return sorted(
            (p for p, s in self._scores.items() if s < threshold), key=lambda p: (self._scores[p], p)
        )

    def _lists_note(self, before: float, after: float) -> str:
        notes = []
        for limit, what in (
            (self.settings.key_supervision_below, "key-supervision list"),
            (self.settings.training_below, "safety training required"),
        ):
            if before >= limit > after:
                notes.append(f"now below {limit:g}: {what}")
            elif after >= limit > before:
                notes.append(f"back at {limit:g} or above: off the {what}")
        return "; ".join(notes)

    def change(
        self, party_id: str, delta: float, reason: str, ts: int, order_id: str | None = None
    ) -> CreditEvent | None:
        """Add `delta` (negative to deduct) within [0, initial]; the event, or None if nothing changed."""
        before = self.score(party_id)
        after = round(min(self.settings.initial, max(0.0, before + delta)), 2)
        if after == before:
            return None
        recent = self._history.get(party_id)
        if recent:  # the store takes the latest event by time as the score: keep times in order
            ts = max(ts, recent[-1].ts)
        self._scores[party_id] = after
        if after < self.settings.initial:
            self._anchor[party_id] = ts
        else:
            self._anchor.pop(party_id, None)
        if lists := self._lists_note(before, after):
            reason = f"{reason} ({lists})"
            log.info("party %s credit %.2f -> %.2f: %s", party_id, before, after, lists)
        event = CreditEvent(
            party_id=party_id,
            ts=ts,
            delta=round(after - before, 2),
            score_after=after,
            reason=reason,
            work_order_id=order_id,
        )
        self._history.setdefault(party_id, deque(maxlen=HISTORY_KEEP)).append(event)
        return event

    def on_overdue(self, order: WorkOrder, ts: int) -> CreditEvent | None:
        """Deduct for a work order that went overdue."""
        if order.party_id is None:
            return None
        reason = f"work order {order.id} overdue: {order.title}"
        return self.change(order.party_id, -self.settings.overdue_deduction, reason, ts, order.id)

    def on_hazard(self, alarm: Alarm, ts: int) -> CreditEvent | None:
        """Note an alarm that became active; deduct if the same rule fired at the same place in the window."""
        if alarm.category in self.settings.repeat_exempt_categories:
            return None
        key = f"{alarm.rule_id}|{place_id(alarm)}"
        previous = self._last_hazard.get(key)
        self._last_hazard[key] = ts
        if alarm.party_id is None or previous is None or ts - previous > self.settings.repeat_window_ms:
            return None
        days = (ts - previous) / 86_400_000
        reason = f"repeated hazard: {alarm.rule_name} at {place_id(alarm)} again after {days:.1f} days"
        return self.change(alarm.party_id, -self.settings.repeat_deduction, reason, ts)

    def restart_period(self, party_id: str, ts: int) -> None:
        """Start a new clean period at `ts` (a party's overdue order was just closed)."""
        if party_id in self._anchor:
            self._anchor[party_id] = max(self._anchor[party_id], ts)

    def recover(self, now_ms: int, blocked: Collection[str] = ()) -> list[CreditEvent]:
        """Give back points for every clean period passed; `blocked` parties have overdue open orders."""
        period, events = self.settings.recovery_period_ms, []
        for party, start in list(self._anchor.items()):
            if party in blocked:
                self._anchor[party] = now_ms  # a period with an overdue order is not clean
                continue
            anchor = start
            while anchor + period <= now_ms and self.score(party) < self.settings.initial:
                anchor += period
                event = self.change(party, self.settings.recovery_points, "recovered: a clean period", anchor)
                if event is None:
                    break
                events.append(event)
        horizon = now_ms - self.settings.repeat_window_ms
        self._last_hazard = {k: t for k, t in self._last_hazard.items() if t >= horizon}
        return events

    def state(self) -> dict[str, Any]:
        """What the store's credit events do not hold: clean-period starts and recent hazards."""
        return {"anchors": dict(self._anchor), "last_hazard": dict(self._last_hazard)}

    def restore(self, scores: Mapping[str, float], state: Mapping[str, Any], now_ms: int) -> None:
        """Put back scores from the store and the saved state; a party with no anchor starts one now."""
        self._scores = {p: float(s) for p, s in scores.items()}
        anchors = state.get("anchors") or {}
        self._anchor = {
            p: int(anchors.get(p, now_ms)) for p, s in self._scores.items() if s < self.settings.initial
        }
        self._last_hazard = {str(k): int(v) for k, v in (state.get("last_hazard") or {}).items()}
