"""Device health: stuck sensors, silence, last-wills, refused values, calibration and bump tests."""

from __future__ import annotations

from typing import Any

import orjson

from core.alarms import SignalKind
from core.steps import dumps_in_steps, finish
from tests.helpers import run_steps
from tests.rules.support import T0, S, availability, dead_letter, engine, feed, kinds, series

FIRING, PENDING, RESOLVED, NO_DATA = (
    SignalKind.FIRING,
    SignalKind.PENDING,
    SignalKind.RESOLVED,
    SignalKind.NO_DATA,
)
MIN, HOUR = 60 * S, 3600 * S

GAS: dict[str, Any] = {
    "id": "garage-co",
    "type": "threshold",
    "metric": "co",
    "target": {"device_kinds": ["co_sensor"]},
    "levels": [{"severity": "alarm", "trigger": 50, "clear": 40, "on_delay_s": 30}],
}
STUCK: dict[str, Any] = {
    "id": "stuck",
    "type": "stuck",
    "category": "sensor_fault",
    "metrics": ["co", "h2s"],
    "epsilon": 0.5,
    "duration_s": 24 * 3600,
    "ignore_at_or_below": 1,
}
OFFLINE: dict[str, Any] = {"id": "offline", "type": "no_data", "category": "offline", "timeout_s": 600}


def test_stuck_sensor_fires_a_sensor_fault_and_no_gas_alarm() -> None:
    eng = engine([GAS, STUCK])
    values = [3.0, 3.2, 2.9, 3.1] * 40  # 160 readings, 10 minutes apart: 26.5 h within 0.3 ppm
    sigs = series(eng, "co-1", "co", values, step_s=600)
    assert [(s.rule_id, s.kind, s.category) for s in sigs] == [("stuck", FIRING, "sensor_fault")]
    assert sigs[0].ts == T0 + 24 * HOUR
    assert "may be stuck: CO has stayed at" in sigs[0].message
    assert sigs[0].evidence["stuck"]["co"]["run_since_ts"] == T0
    more = series(eng, "co-1", "co", [9.0], start=T0 + 27 * HOUR)
    assert [(s.rule_id, s.kind) for s in more] == [("stuck", RESOLVED)]


def test_a_flat_clean_air_zero_is_not_stuck() -> None:
    eng = engine([STUCK])
    assert series(eng, "co-1", "co", [0.0] * 60, step_s=3600) == []


def test_a_silent_device_goes_offline_and_its_firing_rules_say_no_data() -> None:
    eng = engine([GAS, OFFLINE])
    eng.tick(T0)
    sigs = series(eng, "co-1", "co", [60] * 8)
    assert kinds(sigs) == [(PENDING, "alarm"), (FIRING, "alarm")]
    first = eng.tick(T0 + 35 * S + 10 * MIN)  # the devices silent since the start go first
    assert "co-1" not in {s.source_id for s in first} and {"co-2", "co-7"} <= {s.source_id for s in first}
    sigs = eng.tick(T0 + 36 * S + 10 * MIN)
    got = {(s.rule_id, s.source_id, s.kind) for s in sigs}
    assert got == {("offline", "co-1", FIRING), ("garage-co", "co-1", NO_DATA)}
    offline = next(s for s in sigs if s.rule_id == "offline")
    assert offline.category == "offline" and "silent for 10 min" in offline.message
    back = feed(eng, [("co-1", "co", 60, T0 + 20 * MIN)])
    assert {(s.rule_id, s.kind) for s in back} == {("offline", RESOLVED), ("garage-co", FIRING)}


def test_devices_never_heard_go_offline_a_timeout_after_the_start() -> None:
    eng = engine([OFFLINE])
    assert eng.tick(T0) == []
    assert eng.tick(T0 + 10 * MIN) == []
    sigs = eng.tick(T0 + 10 * MIN + 1)
    assert {s.source_id for s in sigs} == {"co-1", "co-2", "co-7", "mg-1", "o2-1", "sos-1", "cam-g", "cam-1"}
    assert eng.tick(T0 + 20 * MIN) == []  # no storm: each says it once


def test_last_will_takes_the_device_offline_at_once_and_birth_brings_it_back() -> None:
    eng = engine([GAS, OFFLINE])
    series(eng, "co-1", "co", [60] * 8)
    sigs = availability(eng, "co-1", online=False)
    assert {(s.rule_id, s.kind) for s in sigs} == {("offline", FIRING), ("garage-co", NO_DATA)}
    assert "last-will" in next(s for s in sigs if s.rule_id == "offline").message
    assert availability(eng, "co-1", online=False) == []
    assert eng.tick(T0 + 40 * S) == []  # no data is no data: time alone does not bring the alarm back
    assert [(s.rule_id, s.kind) for s in availability(eng, "co-1", online=True)] == [("offline", RESOLVED)]


def test_a_gateway_last_will_takes_its_devices_offline() -> None:
    eng = engine([OFFLINE])
    sigs = availability(eng, "gw-1", online=False)
    assert {(s.source_id, s.kind) for s in sigs} == {("co-2", FIRING), ("sos-1", FIRING)}
    assert "gateway gw-1 last-will" in sigs[0].message
    assert availability(eng, "gw-1", online=True) == []  # each device is back when it is heard from
    assert [s.kind for s in feed(eng, [("co-2", "co", 3, T0)])] == [RESOLVED]


def test_out_of_range_value_is_a_sensor_fault_cleared_by_valid_readings() -> None:
    fault = {"id": "fault", "type": "sensor_fault", "category": "sensor_fault", "clear_after": 3}
    eng = engine([fault])
    [sig] = dead_letter(eng, "co-1", "metrics.co", T0)
    assert (sig.kind, sig.severity, sig.source_id) == (FIRING, "warning", "co-1")
    assert sig.evidence["field"] == "metrics.co" and "outside the valid range" in sig.message
    assert dead_letter(eng, "co-1", "readings.4.metrics.co", T0 + S) == []  # already firing
    assert series(eng, "co-1", "co", [5, 5], start=T0 + 2 * S) == []
    assert kinds(feed(eng, [("co-1", "co", 5, T0 + 20 * S)])) == [(RESOLVED, None)]


CAL: dict[str, Any] = {
    "id": "cal",
    "type": "calibration",
    "category": "maintenance",
    "target": {"device_kinds": ["co_sensor"]},
}


def test_calibration_and_bump_test_overdue_from_device_dates() -> None:
    calibration = {**CAL, "field": "calibrated_on", "interval_days": 365, "missing": "ignore"}
    eng = engine([calibration])
    assert eng.tick(T0) == []  # co-1 calibrated 2026-01-10: due 2027-01-10
    bump = {**CAL, "id": "bump", "field": "bump_test_on", "interval_days": 30}
    eng = engine([bump])
    sigs = {s.source_id: s for s in eng.tick(T0)}
    assert set(sigs) == {"co-1", "co-2", "co-7"}  # co-2 and co-7 have no date: no record, no proof
    assert sigs["co-1"].evidence["days_overdue"] == 145  # due 2026-07-01, today 2026-11-23 (China time)
    assert "Bump test of B1车库CO探测器01 in 6栋B1地下车库 overdue by 145 days" in sigs["co-1"].message
    assert "no bump test date on record" in sigs["co-2"].message
    assert eng.tick(T0 + 2 * HOUR) == []  # checked again, nothing changed: nothing said


def test_silence_timers_survive_a_restart_and_a_rule_edit() -> None:
    first = engine([OFFLINE, GAS])
    first.tick(T0)
    feed(first, [("co-1", "co", 3, T0 + 5 * MIN)])
    first.set_rules(list(first.rules()))  # an API edit of another rule must not restart the timers
    second = engine([OFFLINE, GAS], first.twin)
    second.restore(first.snapshot())
    assert second.tick(T0 + 9 * MIN) == []
    never_heard = {s.source_id for s in second.tick(T0 + 10 * MIN + 1)}
    assert "co-7" in never_heard and "co-1" not in never_heard  # counted from the first start
    assert [s.source_id for s in second.tick(T0 + 15 * MIN + 1)] == ["co-1"]


def _in_steps(eng: Any, chunk: int) -> tuple[int, dict[str, Any]]:
    """(yields, snapshot as saved and read back) of a snapshot taken a chunk at a time."""
    yields, snap = run_steps(eng.snapshot_in_steps(chunk=chunk))
    return yields, orjson.loads(finish(dumps_in_steps(snap)))


def test_silent_devices_are_saved_a_chunk_at_a_time_and_restored_whole() -> None:
    first = engine([OFFLINE])
    first.tick(T0)
    quiet, _ = _in_steps(first, 3)
    first.tick(T0 + 10 * MIN + 1)  # the eight devices of the twin go silent
    yields, snap = _in_steps(first, 3)
    assert yields - quiet >= 3  # 8 silent devices in chunks of 3: ingest may run between them
    assert snap == first.snapshot() and len(snap["rules"]["offline"]["state"]["silent"]) == 8
    second = engine([OFFLINE], first.twin)
    second.restore(snap)
    assert second.tick(T0 + 20 * MIN) == []  # still silent after the restart: not said again
    assert [s.kind for s in feed(second, [("co-1", "co", 3, T0 + 21 * MIN)])] == [RESOLVED]
