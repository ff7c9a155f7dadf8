"""Threshold rules: levels, hysteresis, on/off delays, repeat counts, flapping, ordering of readings."""

from __future__ import annotations

from typing import Any

from core.alarms import SignalKind
from ingest.pipeline import PipelineResult
from tests.rules.support import T0, S, engine, feed, kinds, readings, series

FIRING, PENDING, RESOLVED = SignalKind.FIRING, SignalKind.PENDING, SignalKind.RESOLVED

GARAGE_CO: dict[str, Any] = {
    "id": "garage-co",
    "version": 3,
    "type": "threshold",
    "metric": "co",
    "target": {"device_kinds": ["co_sensor"], "space_kinds": ["basement_garage"]},
    "levels": [
        {"severity": "warning", "trigger": 25, "clear": 20, "on_delay_s": 10, "off_delay_s": 10},
        {"severity": "alarm", "trigger": 50, "clear": 40, "on_delay_s": 30, "off_delay_s": 10},
        {"severity": "emergency", "trigger": 150, "clear": 120},
    ],
}


def one_level(**level: Any) -> dict[str, Any]:
    return {**GARAGE_CO, "levels": [{"severity": "alarm", "trigger": 50, "clear": 40, **level}]}


def test_on_delay_pending_then_firing_with_a_plain_message() -> None:
    eng = engine([one_level(on_delay_s=30)])
    sigs = series(eng, "co-1", "co", [12, 52, 52, 52, 52, 52, 52, 52], step_s=5)
    assert kinds(sigs) == [(PENDING, "alarm"), (FIRING, "alarm")]
    pending, firing = sigs
    assert pending.ts == T0 + 5 * S
    assert firing.ts == T0 + 35 * S  # the first reading 30 s after the condition started
    assert firing.message == "CO 52 ppm in 6栋B1地下车库 above 50 ppm for 30 s (B1车库CO探测器01)"
    ev = firing.evidence
    assert ev["rule"] == {"id": "garage-co", "version": 3, "type": "threshold"}
    assert ev["level"]["trigger"] == 50 and ev["level"]["on_delay_s"] == 30
    assert ev["samples"][0] == [T0 + 5 * S, 52.0] and ev["duration_s"] == 30
    assert (firing.site, firing.building, firing.space, firing.source_id) == ("s1", "b6", "b6-garage", "co-1")


def test_on_delay_interrupted_cancels_the_pending_and_restarts() -> None:
    eng = engine([one_level(on_delay_s=30)])
    sigs = series(eng, "co-1", "co", [52, 52, 52, 49, 52, 52, 52, 52, 52, 52, 52], step_s=5)
    # 49 is below the trigger: the pending ends (resolved) and the delay starts over at the next 52
    assert kinds(sigs) == [(PENDING, "alarm"), (RESOLVED, None), (PENDING, "alarm"), (FIRING, "alarm")]
    assert sigs[-1].ts == T0 + (20 + 30) * S


def test_off_delay_and_hysteresis_resolve_only_below_the_clear_level_for_long_enough() -> None:
    eng = engine([one_level(off_delay_s=20)])
    values = [60, 45, 45, 45, 45, 45, 39, 39, 41, 39, 39, 39, 39, 39]
    sigs = series(eng, "co-1", "co", values, step_s=5)
    assert kinds(sigs) == [(FIRING, "alarm"), (RESOLVED, None)]
    # 45 is below the trigger but above the clear level: still firing; 41 restarts the off-delay
    assert sigs[1].ts == T0 + (9 + 4) * 5 * S
    assert "back to 39 ppm" in sigs[1].message


def test_flapping_around_the_trigger_makes_no_storm() -> None:
    eng = engine([one_level(off_delay_s=30)])
    flapping = [49, 51] * 60  # 10 minutes either side of 50, 5 s apart
    sigs = series(eng, "co-1", "co", flapping + [30] * 10, step_s=5)
    assert kinds(sigs) == [(FIRING, "alarm"), (RESOLVED, None)]


def test_flapping_with_an_on_delay_never_fires() -> None:
    eng = engine([one_level(on_delay_s=30)])
    sigs = series(eng, "co-1", "co", [49, 51] * 60, step_s=5)
    assert FIRING not in [k for k, _ in kinds(sigs)]
    assert len(sigs) <= 120  # at most a pending and its cancel per excursion, never an alarm


def test_repeat_count_needs_consecutive_samples_beyond_the_level() -> None:
    eng = engine([one_level(repeat=3)])
    sigs = series(eng, "co-1", "co", [55, 55, 30, 55, 55, 55], step_s=5)
    assert kinds(sigs) == [(PENDING, "alarm"), (RESOLVED, None), (PENDING, "alarm"), (FIRING, "alarm")]
    assert sigs[-1].ts == T0 + 25 * S


def test_severity_rises_and_falls_through_the_levels() -> None:
    eng = engine([GARAGE_CO])
    values = [30, 30, 30, 60, 60, 60, 60, 60, 60, 60, 160, 60, 60, 60, 30, 30, 30, 10, 10, 10]
    sigs = series(eng, "co-1", "co", values, step_s=5)
    assert kinds(sigs) == [
        (PENDING, "warning"),
        (FIRING, "warning"),  # 10 s on-delay
        (FIRING, "alarm"),  # 30 s on-delay from the first 60
        (FIRING, "emergency"),  # no delay
        (FIRING, "alarm"),  # 60 < 120: the emergency clears at once, the alarm holds (60 > 40)
        (FIRING, "warning"),  # 30 < 40 for the 10 s off-delay
        (RESOLVED, None),
    ]


def test_a_jump_to_a_high_level_implies_the_lower_ones() -> None:
    eng = engine([GARAGE_CO])
    sigs = series(eng, "co-1", "co", [200, 45, 45, 45, 45, 45], step_s=5)
    # no warning pending after the emergency cleared: reaching a level reaches the ones below it
    assert kinds(sigs) == [(FIRING, "emergency"), (FIRING, "alarm")]


def test_low_threshold_for_oxygen_fires_below_and_clears_above() -> None:
    o2 = {
        "id": "o2-low",
        "type": "threshold",
        "metric": "o2",
        "direction": "below",
        "target": {"confined": True},
        "levels": [{"severity": "alarm", "trigger": 19.5, "clear": 19.8}],
    }
    eng = engine([o2])
    sigs = series(eng, "o2-1", "o2", [20.9, 19.4, 19.6, 19.7, 19.9], step_s=5)
    assert kinds(sigs) == [(FIRING, "alarm"), (RESOLVED, None)]
    assert sigs[0].message.startswith("O2 19.4 %vol in 1号化粪池 below 19.5 %vol")
    assert sigs[1].ts == T0 + 20 * S


def test_tick_completes_an_on_delay_when_no_reading_comes() -> None:
    eng = engine([one_level(on_delay_s=30)])
    assert kinds(feed(eng, [("co-1", "co", 60, T0)])) == [(PENDING, "alarm")]
    assert eng.tick(T0 + 29 * S) == []
    [sig] = eng.tick(T0 + 30 * S)
    assert (sig.kind, sig.ts) == (FIRING, T0 + 30 * S)


def test_tick_uses_the_device_clock_and_ignores_stale_readings() -> None:
    eng = engine([one_level(on_delay_s=30)])
    skew = 120 * S  # the device clock is two minutes behind SafeTwin's
    feed(eng, [("co-1", "co", 60, T0)], skew_ms=skew)
    assert eng.tick(T0 + skew + 29 * S) == []
    assert kinds(eng.tick(T0 + skew + 30 * S)) == [(FIRING, "alarm")]
    eng2 = engine([one_level(on_delay_s=30)])
    feed(eng2, [("co-1", "co", 60, T0)])
    assert eng2.tick(T0 + 400 * S) == []  # last reading older than settings.sample_hold_s: no decision


def test_readings_of_a_device_are_evaluated_in_time_order_and_late_ones_are_counted() -> None:
    eng = engine([one_level(on_delay_s=10)])
    rows = [("co-1", "co", 60.0, T0 + 10 * S), ("co-7", "co", 5.0, T0), ("co-1", "co", 60.0, T0)]
    sigs = eng.on_result(PipelineResult(readings=readings(eng.twin, rows)))
    assert kinds(sigs) == [(PENDING, "alarm"), (FIRING, "alarm")]  # sorted: T0 then T0 + 10 s
    assert sigs[1].ts == T0 + 10 * S
    late = feed(eng, [("co-1", "co", 10.0, T0 + 5 * S)])  # older than what was evaluated
    assert late == [] and eng.stats["late_readings"] == 1


def test_evidence_samples_are_bounded() -> None:
    eng = engine([one_level(on_delay_s=100)])
    sigs = series(eng, "co-1", "co", [55] * 30, step_s=5)
    firing = next(s for s in sigs if s.kind == FIRING)
    assert len(firing.evidence["samples"]) == 10
    assert firing.evidence["samples"][-1] == [firing.ts, 55.0]


def test_rule_targets_only_matching_devices() -> None:
    eng = engine([GARAGE_CO])
    assert series(eng, "mg-1", "co", [500, 500]) == []  # a septic tank is not a garage
