"""Zones, tracking and the event lifecycle on synthetic detection sequences."""

from __future__ import annotations

from core.contract import DetectionEventType, DetectionLabel
from twin.model import ZoneSpec
from vision.analytics import CameraAnalytics
from vision.boxes import FIRE, HELMET, PERSON, Box, point_in_polygon
from vision.events import Condition, EventManager, snapshot_name
from vision.settings import AnalyticsSettings
from vision.tracking import Tracker

NEW, UPDATE, END = DetectionEventType.NEW, DetectionEventType.UPDATE, DetectionEventType.END
SQUARE = [(0.0, 0.5), (0.4, 0.5), (0.4, 1.0), (0.0, 1.0)]


def person(x: float, foot: float = 0.9, w: float = 0.1, h: float = 0.4, score: float = 0.8) -> Box:
    return Box(PERSON, score, x, foot - h, x + w, foot)


def helmet_on(p: Box) -> Box:
    return Box(HELMET, 0.5, p.x1 + 0.02, p.y1, p.x2 - 0.02, p.y1 + 0.05)


def run(
    analytics: CameraAnalytics,
    events: EventManager,
    frames: list[list[Box]],
    *,
    aware: bool = True,
    dt: int = 250,
):
    """Feed frames every `dt` ms from t = 0; every message with the frame time."""
    out = []
    for i, boxes in enumerate(frames):
        found = analytics.process(boxes, i * dt, helmet_aware=aware)
        out += [(i * dt, m) for m in events.step(found.conditions, i * dt)]
    return out


def manager(**kw: int) -> EventManager:
    args = {"min_event_ms": 500, "end_after_ms": 1000, "update_every_ms": 10_000, **kw}
    return EventManager("cam-1", url_base="/api/v1/snapshots", **args)


def test_point_in_polygon_edges_and_concave() -> None:
    l_shape = [(0, 0), (1, 0), (1, 0.5), (0.5, 0.5), (0.5, 1), (0, 1)]
    assert point_in_polygon(0.25, 0.75, l_shape)
    assert not point_in_polygon(0.75, 0.75, l_shape)
    assert point_in_polygon(1.0, 0.25, l_shape)  # on an edge
    assert not point_in_polygon(1.5, 0.25, l_shape)


def test_tracker_keeps_one_id_across_frames_and_drops_stale_tracks() -> None:
    tr = Tracker(min_iou=0.2, max_age_ms=1000)
    assert tr.update([person(0.1)], 0) == []  # not confirmed after one frame
    ids = {t.id for t in tr.update([person(0.11)], 100)}
    assert ids == {t.id for t in tr.update([person(0.12), person(0.7)], 200) if t.box.x1 < 0.5}
    tr.update([], 1500)
    assert tr.tracks == {}


def test_intrusion_is_one_event_new_update_end() -> None:
    a = CameraAnalytics([ZoneSpec(name="pit", kind="restricted", polygon=SQUARE)], AnalyticsSettings())
    ev = manager()
    walk = [[person(0.6 - 0.05 * i)] for i in range(10)]  # foot crosses into the zone at x < 0.4
    frames = walk + [[person(0.1, score=0.95)]] * 4 + [[]] * 6
    msgs = run(a, ev, frames)
    kinds = [(m.detection.type, m.detection.label) for _, m in msgs]
    assert kinds == [
        (NEW, DetectionLabel.INTRUSION),
        (UPDATE, DetectionLabel.INTRUSION),
        (END, DetectionLabel.INTRUSION),
    ]
    assert len({m.detection.event_id for _, m in msgs}) == 1
    new, update, end = (m.detection for _, m in msgs)
    assert new.zones == ["pit"] and msgs[0][1].snapshot
    assert update.top_score == 0.95 and msgs[1][1].snapshot  # a better score: a better snapshot
    assert end.end_ts == 13 * 250 and end.start_ts == new.start_ts
    assert new.snapshot_url == f"/api/v1/snapshots/{snapshot_name(new.event_id)}"


def test_a_flicker_shorter_than_min_event_is_no_event() -> None:
    a = CameraAnalytics([ZoneSpec(name="pit", kind="restricted", polygon=SQUARE)], AnalyticsSettings())
    assert run(a, manager(), [[person(0.1)]] * 2 + [[]] * 8) == []


def test_no_helmet_only_in_construction_zones_and_only_without_a_helmet() -> None:
    zones = [ZoneSpec(name="works", kind="construction", polygon=[(0.5, 0), (1, 0), (1, 1), (0.5, 1)])]
    a = CameraAnalytics(zones, AnalyticsSettings())
    ok, bare, outside = person(0.7), person(0.85, foot=0.95), person(0.1)
    msgs = run(a, manager(), [[ok, helmet_on(ok), bare, outside]] * 6)
    assert [(m.detection.type, m.detection.label) for _, m in msgs] == [(NEW, DetectionLabel.NO_HELMET)]
    assert msgs[0][1].detection.box == bare.clipped().as_tuple()
    # a camera without a helmet detector cannot tell: nothing is reported
    assert run(CameraAnalytics(zones, AnalyticsSettings()), manager(), [[bare]] * 6, aware=False) == []


def test_construction_site_camera_without_zones_watches_the_whole_frame() -> None:
    a = CameraAnalytics([], AnalyticsSettings(), construction_site=True)
    msgs = run(a, manager(), [[person(0.1)]] * 6)
    assert [m.detection.zones for _, m in msgs] == [["site"]]


def test_fall_after_lying_still_for_n_seconds_not_while_moving() -> None:
    a = CameraAnalytics([], AnalyticsSettings(fall_after_s=2.0, min_event_s=0))
    lying = Box(PERSON, 0.7, 0.3, 0.6, 0.7, 0.75)
    frames = [[person(0.3)]] * 2 + [[lying]] * 12  # stands 0.5 s, then lies still (a new track, seen twice)
    msgs = run(a, manager(min_event_ms=0), frames)
    assert [(t, m.detection.label) for t, m in msgs] == [(3 * 250 + 2000, DetectionLabel.FALL)]
    crawling = [[Box(PERSON, 0.7, 0.1 + 0.03 * i, 0.6, 0.5 + 0.03 * i, 0.75)] for i in range(14)]
    a2 = CameraAnalytics([], AnalyticsSettings(fall_after_s=2.0))
    assert run(a2, manager(), crawling) == []


def test_loitering_and_climbing() -> None:
    zones = [
        ZoneSpec(name="gate", kind="loitering", polygon=SQUARE, loiter_s=2),
        ZoneSpec(name="ladder", kind="ladder", polygon=[(0.8, 0), (1, 0), (1, 1), (0.8, 1)]),
    ]
    a = CameraAnalytics(zones, AnalyticsSettings(min_event_s=0))
    msgs = run(a, manager(min_event_ms=0), [[person(0.1), person(0.85)]] * 12)
    firsts = {m.detection.label: t for t, m in msgs if m.detection.type == NEW}
    assert firsts == {DetectionLabel.CLIMBING: 250, DetectionLabel.LOITERING: 250 + 2000}


def test_fire_regions_are_one_incident_per_camera() -> None:
    a = CameraAnalytics([], AnalyticsSettings())
    fires = [
        [Box(FIRE, 0.5, 0.1 + 0.01 * (i % 3), 0.1, 0.2, 0.2), Box(FIRE, 0.4, 0.5, 0.5, 0.6, 0.6)]
        for i in range(8)
    ]
    msgs = run(a, manager(), fires)
    assert [(m.detection.type, m.detection.label) for _, m in msgs] == [(NEW, DetectionLabel.FIRE)]
    box = msgs[0][1].detection.box
    assert box is not None and 0.1 <= box[0] <= 0.12 and box[1:] == (0.1, 0.6, 0.6)  # all regions


def test_updates_are_periodic_and_close_all_ends_open_events() -> None:
    ev = manager(min_event_ms=0, update_every_ms=1000)
    c = Condition("k", DetectionLabel.SMOKE, 0.5, None)
    msgs = [m for t in range(0, 2600, 250) for m in ev.step([c], t)]
    assert [m.detection.type for m in msgs] == [NEW, UPDATE, UPDATE]
    end = ev.close_all(3000)
    assert [m.detection.type for m in end] == [END] and ev.incidents == {}


def test_one_shot_and_unsafe_event_ids_make_safe_snapshot_names() -> None:
    msgs = EventManager(
        "闸机 cam/1", min_event_ms=0, end_after_ms=1, update_every_ms=1, url_base="/s"
    ).one_shot(DetectionLabel.UNREGISTERED_PERSON, 5000, 1.0, None)
    assert [m.detection.type for m in msgs] == [NEW, END]
    name = snapshot_name(msgs[0].detection.event_id)
    assert name.startswith("ev-") and name.endswith(".jpg") and "/" not in name
