"""Incident lifecycle, as Frigate's events: a condition held `min_event_s` becomes `new`, then
`update`s (on a better score, changed zones, or every `update_every_s`), then `end` once it is gone
for `end_after_s`.  Pure: conditions in, contract messages out.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from core.contract import Detection, DetectionEventType, DetectionLabel
from vision.boxes import Box

_SAFE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,100}$")
_BETTER = 0.05  # a score this much above the best so far is news (and a better snapshot)


@dataclass(frozen=True, slots=True)
class Condition:
    """Something analytics see now; the key says which incident it belongs to."""

    key: str
    label: DetectionLabel
    score: float
    box: Box | None
    zones: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class EventMessage:
    """A message to publish, and whether a snapshot of this frame should be stored with it."""

    detection: Detection
    snapshot: bool


@dataclass(slots=True)
class _Incident:
    label: DetectionLabel
    first_ts: int
    last_ts: int
    score: float
    box: Box | None
    zones: tuple[str, ...]
    event_id: str | None = None
    top_score: float = 0.0
    published_ts: int = 0
    start_ts: int = 0


def snapshot_name(event_id: str) -> str:
    """File name of an event's snapshot: the id when it is file-safe, else a digest of it."""
    if _SAFE.match(event_id) and ".." not in event_id:
        return f"{event_id}.jpg"
    return f"ev-{hashlib.sha1(event_id.encode()).hexdigest()[:20]}.jpg"


class EventManager:
    """Turns per-frame conditions of one camera into new / update / end messages."""

    def __init__(
        self, camera_id: str, *, min_event_ms: int, end_after_ms: int, update_every_ms: int, url_base: str
    ) -> None:
        self.camera_id = camera_id
        self.min_event_ms = min_event_ms
        self.end_after_ms = end_after_ms
        self.update_every_ms = update_every_ms
        self.url_base = url_base.rstrip("/")
        self.incidents: dict[str, _Incident] = {}
        self._seq = 0

    def step(self, conditions: list[Condition], ts: int) -> list[EventMessage]:
        """Messages caused by the conditions of the frame at `ts` (ms)."""
        out: list[EventMessage] = []
        for c in conditions:
            inc = self.incidents.get(c.key)
            if inc is None or (inc.event_id is None and ts - inc.last_ts > self.end_after_ms):
                inc = self.incidents[c.key] = _Incident(c.label, ts, ts, c.score, c.box, c.zones)
            msg = self._seen(inc, c, ts)
            if msg is not None:
                out.append(msg)
        present = {c.key for c in conditions}
        for key, inc in list(self.incidents.items()):
            if key in present or ts - inc.last_ts <= self.end_after_ms:
                continue
            del self.incidents[key]
            if inc.event_id is not None:
                out.append(self._message(inc, DetectionEventType.END, inc.last_ts, snapshot=False))
        return out

    def close_all(self, ts: int) -> list[EventMessage]:
        """End every open event (camera stopping)."""
        out = [
            self._message(inc, DetectionEventType.END, min(inc.last_ts, ts), snapshot=False)
            for inc in self.incidents.values()
            if inc.event_id is not None
        ]
        self.incidents.clear()
        return out

    def one_shot(self, label: DetectionLabel, ts: int, score: float, box: Box | None) -> list[EventMessage]:
        """An instantaneous incident (an unregistered badge at the gate): `new` and `end` at once."""
        inc = _Incident(label, ts, ts, score, box, ())
        self._open(inc, ts)
        return [
            self._message(inc, DetectionEventType.NEW, ts, snapshot=True),
            self._message(inc, DetectionEventType.END, ts, snapshot=False),
        ]

    def _seen(self, inc: _Incident, c: Condition, ts: int) -> EventMessage | None:
        better = c.score > inc.top_score + _BETTER
        changed = c.zones != inc.zones
        inc.last_ts, inc.score, inc.box, inc.zones = ts, c.score, c.box, c.zones
        if inc.event_id is None:
            inc.top_score = max(inc.top_score, c.score)
            if ts - inc.first_ts < self.min_event_ms:
                return None
            self._open(inc, inc.first_ts)
            return self._message(inc, DetectionEventType.NEW, ts, snapshot=True)
        if better or changed or ts - inc.published_ts >= self.update_every_ms:
            inc.top_score = max(inc.top_score, c.score)
            return self._message(inc, DetectionEventType.UPDATE, ts, snapshot=better)
        return None

    def _open(self, inc: _Incident, start_ts: int) -> None:
        self._seq += 1
        cam = (
            self.camera_id if len(self.camera_id) <= 80 else hashlib.sha1(self.camera_id.encode()).hexdigest()
        )
        inc.event_id = f"{cam}-{start_ts // 1000}-{self._seq}"
        inc.start_ts = start_ts
        inc.top_score = max(inc.top_score, inc.score)

    def _message(self, inc: _Incident, kind: DetectionEventType, ts: int, *, snapshot: bool) -> EventMessage:
        assert inc.event_id is not None
        inc.published_ts = ts
        box = inc.box.clipped().as_tuple() if inc.box is not None else None
        det = Detection(
            type=kind,
            event_id=inc.event_id,
            label=inc.label,
            ts=ts,
            start_ts=inc.start_ts,
            end_ts=ts if kind == DetectionEventType.END else None,
            score=round(min(max(inc.score, 0.0), 1.0), 4),
            top_score=round(min(max(inc.top_score, inc.score, 0.0), 1.0), 4),
            box=box,
            zones=list(inc.zones),
            snapshot_url=f"{self.url_base}/{snapshot_name(inc.event_id)}",
        )
        return EventMessage(det, snapshot)
