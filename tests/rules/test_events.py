"""Event rules: panic buttons, camera detections (working hours, zones, end), and combined AND / OR."""

from __future__ import annotations

from typing import Any

import pytest

from core.alarms import SignalKind, SourceKind
from rules.settings import WorkingHours
from tests.rules.support import T0, S, availability, detection, engine, feed, kinds, series

FIRING, PENDING, RESOLVED = SignalKind.FIRING, SignalKind.PENDING, SignalKind.RESOLVED
MIN, HOUR = 60 * S, 3600 * S

PANIC: dict[str, Any] = {
    "id": "panic",
    "type": "panic",
    "category": "panic",
    "target": {"device_kinds": ["panic_button"]},
}


def test_panic_press_is_an_emergency_at_once_with_family_and_community_contacts() -> None:
    eng = engine([PANIC])
    assert feed(eng, [("sos-1", "pressed", 0, T0)]) == []
    [sig] = feed(eng, [("sos-1", "pressed", 1, T0 + S)])
    assert (sig.kind, sig.severity, sig.ts, sig.category) == (FIRING, "emergency", T0 + S, "panic")
    ev = sig.evidence
    assert ev["contacts"] == [{"name": "张丽", "role": "daughter", "phone": "13900000000"}]
    assert ev["community"]["name"] == "澜景社区居委会"
    assert ev["community"]["contacts"][0]["phone"] == "13800000001"
    assert ev["responsible_party"]["id"] == "p-prop" and ev["latched"] is True
    assert ev["place"]["floor"] == "9F" and ev["place"]["building_name"] == "6栋"
    assert "call 张丽 (daughter) 13900000000, 澜景社区居委会" in sig.message
    assert sig.message.startswith("Panic button pressed: 904室一键呼叫, 904室（独居老人）, 6栋, 9F")


def test_panic_presses_within_rearm_are_one_call_and_the_alarm_stays_latched() -> None:
    eng = engine([PANIC])
    assert kinds(feed(eng, [("sos-1", "pressed", 1, T0)])) == [(FIRING, "emergency")]
    assert series(eng, "sos-1", "pressed", [0, 1, 0, 1], start=T0 + S) == []  # same call, no resolve
    assert availability(eng, "gw-1", online=False) == []  # a silent button does not void a call
    [again] = feed(eng, [("sos-1", "pressed", 1, T0 + 2 * MIN)])
    assert again.kind == FIRING and again.evidence["press_count"] == 2


def test_a_late_panic_press_still_raises_the_emergency() -> None:
    eng = engine([PANIC])
    feed(eng, [("sos-1", "battery", 80, T0 + 10 * MIN)])  # newer reading already evaluated
    assert kinds(feed(eng, [("sos-1", "pressed", 1, T0)])) == [(FIRING, "emergency")]


def camera_rule(**fields: Any) -> dict[str, Any]:
    return {
        "id": "cam",
        "type": "camera",
        "category": "camera",
        "labels": ["no_helmet"],
        "min_score": 0.6,
        **fields,
    }


def test_no_helmet_fires_in_working_hours_and_resolves_on_end() -> None:
    eng = engine([camera_rule(working_hours_only=True, target={"space_kinds": ["construction_site"]})])
    monday_10 = T0  # Monday 10:00 China time
    [sig] = detection(eng, "cam-1", label="no_helmet", ts=monday_10, score=0.8, top_score=0.8, zones=["a"])
    assert (sig.kind, sig.severity, sig.source_id) == (FIRING, "warning", "cam-1")
    assert sig.message.startswith(
        "Person without a safety helmet seen by 施工段摄像机01 in K0+200 施工段 (zone a)"
    )
    assert sig.evidence["working_hours"]["tz"] == "Asia/Shanghai"
    assert detection(eng, "cam-1", label="no_helmet", type="update", ts=monday_10 + 5 * S) == []
    assert kinds(detection(eng, "cam-1", label="no_helmet", type="end", ts=monday_10 + 9 * S)) == [
        (RESOLVED, None)
    ]


@pytest.mark.parametrize(
    ("ts", "fires"),
    [
        (T0 - 3 * HOUR - 1, False),  # Monday 06:59:59
        (T0 - 3 * HOUR, True),  # Monday 07:00
        (T0 + 9 * HOUR - 1, True),  # Monday 18:59:59
        (T0 + 9 * HOUR, False),  # Monday 19:00
        (T0 + 5 * 24 * HOUR, True),  # Saturday 10:00
        (T0 + 6 * 24 * HOUR, False),  # Sunday 10:00
    ],
)
def test_working_hours_are_china_time(ts: int, fires: bool) -> None:
    eng = engine([camera_rule(working_hours_only=True)])
    assert bool(detection(eng, "cam-1", label="no_helmet", ts=ts)) is fires


def test_overnight_working_hours() -> None:
    hours = WorkingHours.model_validate({"start": "22:00", "end": "06:00", "days": [1]})
    assert hours.contains(T0 + 13 * HOUR)  # Monday 23:00
    assert hours.contains(T0 + 19 * HOUR)  # Tuesday 05:00, the Monday night shift
    assert not hours.contains(T0 + 43 * HOUR)  # Wednesday 05:00, after no Tuesday shift


def test_camera_filters_score_zone_and_label_and_events_time_out() -> None:
    eng = engine([camera_rule(labels=["person"], zones=["restricted"], severity="alarm", event_timeout_s=60)])
    eng.tick(T0)
    assert detection(eng, "cam-1", label="person", zones=["yard"]) == []
    assert detection(eng, "cam-1", label="person", zones=["restricted"], score=0.4, top_score=0.4) == []
    assert detection(eng, "cam-1", label="smoke", zones=["restricted"]) == []
    assert kinds(detection(eng, "cam-1", label="person", zones=["restricted"], event_id="p2")) == [
        (FIRING, "alarm")
    ]
    assert eng.tick(T0 + 30 * S) == []
    assert kinds(eng.tick(T0 + 61 * S)) == [(RESOLVED, None)]  # no update or end for a minute


def test_fall_is_an_emergency_and_smoke_waits_for_its_on_delay() -> None:
    eng = engine(
        [
            camera_rule(id="fall", labels=["fall"], severity="emergency"),
            camera_rule(id="smoke", labels=["smoke"], severity="alarm", on_delay_s=5),
        ]
    )
    assert kinds(detection(eng, "cam-g", label="fall", event_id="f")) == [(FIRING, "emergency")]
    assert kinds(detection(eng, "cam-g", label="smoke", event_id="s")) == [(PENDING, "alarm")]
    update = detection(eng, "cam-g", label="smoke", event_id="s", type="update", ts=T0 + 6 * S, start_ts=T0)
    assert kinds(update) == [(FIRING, "alarm")]
    assert "Smoke seen by 车库摄像机 in 6栋B1地下车库 for 6 s" in update[0].message


FIRE: dict[str, Any] = {
    "id": "fire",
    "type": "combined",
    "category": "fire",
    "operator": "all",
    "window_s": 180,
    "severity": "emergency",
    "target": {"space_kinds": ["basement_garage"]},
    "conditions": [
        {"type": "detection", "labels": ["smoke", "fire"]},
        {"type": "rise", "metric": "co", "per_minute": 5, "window_s": 120},
    ],
}


def test_combined_and_fires_when_smoke_and_co_rise_meet_within_the_window() -> None:
    eng = engine([FIRE])
    eng.tick(T0)
    assert detection(eng, "cam-g", label="smoke", ts=T0) == []  # smoke alone: not yet
    rising = [5, 8, 11, 14, 17, 20, 23, 26]  # +3 ppm each 30 s = 6 ppm/min, on co-2 (the same garage)
    sigs = series(eng, "co-2", "co", rising, start=T0 + 30 * S, step_s=30)
    assert kinds(sigs) == [(FIRING, "emergency")]
    sig = sigs[0]
    assert (sig.source_kind, sig.source_id, sig.category) == (SourceKind.SPACE, "b6-garage", "fire")
    assert "camera: smoke/fire (cam-g) and CO rising 5/min (co-2)" in sig.message
    assert all(c["holds"] for c in sig.evidence["conditions"])
    eng.tick(T0 + 5 * MIN)
    assert detection(eng, "cam-g", label="smoke", type="end", ts=T0 + 5 * MIN) == []  # holds 180 s more
    # the CO rise was last met at 240 s: it lapses 180 s later, and the combination with it
    assert eng.tick(T0 + 420 * S) == []
    assert kinds(eng.tick(T0 + 421 * S)) == [(RESOLVED, None)]


def test_combined_and_does_not_fire_when_the_signals_are_further_apart_than_the_window() -> None:
    eng = engine([FIRE])
    eng.tick(T0)
    detection(eng, "cam-g", label="smoke", ts=T0)
    eng.tick(T0 + 10 * S)
    detection(eng, "cam-g", label="smoke", type="end", ts=T0 + 10 * S)
    sigs = series(eng, "co-2", "co", [5, 8, 11, 14, 17, 20, 23, 26], start=T0 + 4 * MIN, step_s=30)
    assert sigs == []
    assert series(eng, "co-7", "co", [5, 20, 40], start=T0 + 9 * MIN, step_s=30) == []  # another garage


def test_combined_or_fires_on_either() -> None:
    rule = {
        **FIRE,
        "operator": "any",
        "conditions": [{"type": "value", "metric": "co", "above": 100}, FIRE["conditions"][0]],
    }
    eng = engine([rule])
    assert kinds(feed(eng, [("co-1", "co", 120, T0)])) == [(FIRING, "emergency")]
