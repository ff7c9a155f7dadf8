"""Analytics of one camera: tracks and zones in, conditions (intrusion, no helmet, climbing, fall,
loitering, fire, smoke) out.  Pure and synchronous: cheap enough for the event loop (a few boxes).
"""

from __future__ import annotations

from dataclasses import dataclass

from core.contract import DetectionLabel
from twin.model import ZoneSpec
from vision.boxes import FIRE, HEAD, HELMET, LYING, PERSON, SMOKE, Box, point_in_polygon
from vision.events import Condition
from vision.settings import AnalyticsSettings
from vision.tracking import Track, Tracker

L = DetectionLabel
_HEAD_REGION = 0.3  # a helmet counts when its centre is in the top 30 % of the person box


@dataclass(frozen=True, slots=True)
class FrameFindings:
    """What analytics made of one frame."""

    conditions: list[Condition]
    people: int  # confirmed people in view now
    tracks: list[Track]


def _union(boxes: list[Box], label: str) -> Box:
    return Box(
        label,
        max(b.score for b in boxes),
        min(b.x1 for b in boxes),
        min(b.y1 for b in boxes),
        max(b.x2 for b in boxes),
        max(b.y2 for b in boxes),
    )


def has_helmet(person: Box, helmets: list[Box]) -> bool:
    """Whether a helmet box sits on the person's head (its centre in the top of the person box)."""
    top = person.y1 + person.height * _HEAD_REGION
    for h in helmets:
        cx, cy = h.centre
        if person.x1 <= cx <= person.x2 and person.y1 - person.height * 0.1 <= cy <= top:
            return True
    return False


class CameraAnalytics:
    """Follows one camera's objects across frames and names what is wrong with them."""

    def __init__(
        self,
        zones: list[ZoneSpec],
        settings: AnalyticsSettings,
        *,
        construction_site: bool = False,
    ) -> None:
        self.zones = list(zones)
        if construction_site and not any(z.kind == "construction" for z in zones):
            # a camera on a construction site watches construction work unless its zones say where
            self.zones.append(
                ZoneSpec(name="site", kind="construction", polygon=[(0, 0), (1, 0), (1, 1), (0, 1)])
            )
        self.s = settings
        self.tracker = Tracker(
            min_iou=settings.track_min_iou, max_age_ms=int(settings.track_max_age_s * 1000)
        )

    def zones_at(self, x: float, y: float) -> list[ZoneSpec]:
        """The zones that hold the point (x, y), in frame fractions."""
        return [z for z in self.zones if point_in_polygon(x, y, z.polygon)]

    def process(self, boxes: list[Box], ts: int, *, helmet_aware: bool) -> FrameFindings:
        """Conditions of the frame at `ts`; `helmet_aware`: a detector of this camera finds helmets."""
        people_boxes = [b for b in boxes if b.label in (PERSON, LYING)]
        people_boxes = [
            Box(PERSON, b.score, b.x1, b.y1, b.x2, b.y2) if b.label == LYING else b for b in people_boxes
        ]
        others = [b for b in boxes if b.label not in (PERSON, LYING)]
        tracks = self.tracker.update(people_boxes + [b for b in others if b.label == HEAD], ts)
        helmets = [b for b in boxes if b.label == HELMET]
        heads = [b for b in boxes if b.label == HEAD]
        out: list[Condition] = []
        people = [t for t in tracks if t.label == PERSON]
        for t in people:
            out += self._person(t, ts, helmets, heads, helmet_aware)
        for t in tracks:
            if t.label == HEAD and not any(p.box.x1 <= t.box.centre[0] <= p.box.x2 for p in people):
                out += self._bare_head(t)
        for label, contract in ((FIRE, L.FIRE), (SMOKE, L.SMOKE)):
            found = [b for b in others if b.label == label]
            if found:
                box = _union(found, label)
                names = tuple(z.name for z in self.zones_at(*box.centre))
                out.append(Condition(label, contract, box.score, box, names))
        return FrameFindings(out, len(people), tracks)

    def _person(
        self, t: Track, ts: int, helmets: list[Box], heads: list[Box], helmet_aware: bool
    ) -> list[Condition]:
        box = t.box
        inside = self.zones_at(*box.foot)
        names = tuple(z.name for z in inside)
        self._dwell(t, inside, ts)
        out: list[Condition] = []
        if self.s.publish_person:
            out.append(Condition(f"person:{t.id}", L.PERSON, box.score, box, names))
        restricted = tuple(z.name for z in inside if z.kind == "restricted")
        if restricted:
            out.append(Condition(f"intrusion:{t.id}", L.INTRUSION, box.score, box, restricted))
        loitering = tuple(
            z.name
            for z in inside
            if z.loiter_s is not None and ts - t.zone_since[z.name] >= z.loiter_s * 1000
        )
        if loitering:
            out.append(Condition(f"loitering:{t.id}", L.LOITERING, box.score, box, loitering))
        ladder = tuple(z.name for z in inside if z.kind == "ladder")
        if ladder:
            out.append(Condition(f"climbing:{t.id}", L.CLIMBING, box.score, box, ladder))
        upright = box.width <= box.height
        building = tuple(z.name for z in inside if z.kind == "construction")
        bare = any(
            box.x1 <= h.centre[0] <= box.x2 and box.y1 <= h.centre[1] <= box.y1 + box.height * 0.35
            for h in heads
        )
        if building and upright and (bare or (helmet_aware and not has_helmet(box, helmets))):
            out.append(Condition(f"no_helmet:{t.id}", L.NO_HELMET, box.score, box, building))
        if self._fallen(t, ts):
            out.append(Condition(f"fall:{t.id}", L.FALL, box.score, box, names))
        return out

    def _bare_head(self, t: Track) -> list[Condition]:
        building = tuple(z.name for z in self.zones_at(*t.box.foot) if z.kind == "construction")
        if not building:
            return []
        return [Condition(f"no_helmet:h{t.id}", L.NO_HELMET, t.box.score, t.box, building)]

    def _dwell(self, t: Track, inside: list[ZoneSpec], ts: int) -> None:
        names = {z.name for z in inside}
        for gone in set(t.zone_since) - names:
            del t.zone_since[gone]
        for name in names:
            t.zone_since.setdefault(name, ts)

    def _fallen(self, t: Track, ts: int) -> bool:
        """Lying (box wider than tall by `fall_aspect`) and still for `fall_after_s`."""
        box = t.box
        if box.height <= 0 or box.width / box.height < self.s.fall_aspect:
            t.lying_since, t.lying_at = None, None
            return False
        if t.lying_since is None or t.lying_at is None:
            t.lying_since, t.lying_at = ts, box.centre
            return self.s.fall_after_s == 0
        cx, cy = box.centre
        if abs(cx - t.lying_at[0]) > self.s.still_fraction or abs(cy - t.lying_at[1]) > self.s.still_fraction:
            t.lying_since, t.lying_at = ts, box.centre  # moving: crawling or carried, not lying still
            return False
        return ts - t.lying_since >= self.s.fall_after_s * 1000
