"""Object tracking across frames (greedy IoU matching per label), so one incident is one event."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from vision.boxes import Box, iou


@dataclass(slots=True)
class Track:
    """One object followed across frames."""

    id: int
    label: str
    box: Box
    first_ts: int
    last_ts: int
    hits: int = 1
    history: deque[tuple[int, Box]] = field(default_factory=lambda: deque(maxlen=256))
    zone_since: dict[str, int] = field(default_factory=dict)  # zone name -> when the object entered it
    lying_since: int | None = None
    lying_at: tuple[float, float] | None = None  # centre when it lay down

    @property
    def age_ms(self) -> int:
        return self.last_ts - self.first_ts


class Tracker:
    """Matches each frame's boxes to live tracks of the same label; unmatched boxes start tracks."""

    def __init__(self, *, min_iou: float, max_age_ms: int, min_hits: int = 2) -> None:
        self.min_iou = min_iou
        self.max_age_ms = max_age_ms
        self.min_hits = min_hits
        self.tracks: dict[int, Track] = {}
        self._next = 1

    def update(self, boxes: list[Box], ts: int) -> list[Track]:
        """Feed one frame's boxes at `ts` (ms); the confirmed tracks seen in this frame."""
        seen: list[Track] = []
        for label in sorted({b.label for b in boxes} | {t.label for t in self.tracks.values()}):
            seen += self._update_label(label, [b for b in boxes if b.label == label], ts)
        for tid in [t.id for t in self.tracks.values() if ts - t.last_ts > self.max_age_ms]:
            del self.tracks[tid]
        return [t for t in seen if t.hits >= self.min_hits]

    def _update_label(self, label: str, boxes: list[Box], ts: int) -> list[Track]:
        live = [t for t in self.tracks.values() if t.label == label]
        pairs = sorted(
            ((iou(t.box, b), ti, bi) for ti, t in enumerate(live) for bi, b in enumerate(boxes)),
            reverse=True,
        )
        used_t: set[int] = set()
        used_b: set[int] = set()
        seen: list[Track] = []
        for overlap, ti, bi in pairs:
            if overlap < self.min_iou:
                break
            if ti in used_t or bi in used_b:
                continue
            used_t.add(ti)
            used_b.add(bi)
            track = live[ti]
            track.box, track.last_ts, track.hits = boxes[bi], ts, track.hits + 1
            track.history.append((ts, boxes[bi]))
            seen.append(track)
        for bi, box in enumerate(boxes):
            if bi not in used_b:
                track = Track(self._next, label, box, ts, ts)
                track.history.append((ts, box))
                self.tracks[track.id] = track
                self._next += 1
                seen.append(track)
        return seen
