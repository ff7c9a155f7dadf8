"""Exposure: 8-hour TWA and 15-minute STEL against figures worked out by hand."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest

from core.alarms import SignalKind
from rules.kinds.exposure import Window
from tests.rules.support import T0, S, engine, feed, kinds

FIRING, RESOLVED = SignalKind.FIRING, SignalKind.RESOLVED
MIN, HOUR = 60 * S, 3600 * S


def co_exposure(twa_sev: str = "emergency") -> dict[str, Any]:
    return {
        "id": "co-exposure",
        "type": "exposure",
        "category": "exposure",
        "metric": "co",
        "target": {"confined": True},
        "max_hold_s": 60,
        "limits": [
            {"kind": "twa", "limit": 17, "clear": 15, "severity": twa_sev},
            {"kind": "stel", "limit": 25, "clear": 20, "severity": "alarm"},
        ],
    }


def minute_series(eng: Any, values: Sequence[float], start: int = T0) -> list[Any]:
    out = []
    for i, v in enumerate(values):
        out += feed(eng, [("mg-1", "co", v, start + i * MIN)])
    return out


def test_stel_fires_when_the_15_minute_average_reaches_the_limit() -> None:
    # 40 ppm from 0 to 10 min (readings each minute), then 0.
    # STEL(t) = 40 ppm x t / 15 min: 24.0 ppm at 9 min, 26.67 ppm at 10 min -> fires at 10 min.
    eng = engine([co_exposure()])
    sigs = minute_series(eng, [40] * 10 + [0])
    assert kinds(sigs) == [(FIRING, "alarm")]
    fired = sigs[0]
    assert fired.ts == T0 + 10 * MIN
    stel, twa = fired.evidence["exposure"]["stel"], fired.evidence["exposure"]["twa"]
    assert stel["value"] == pytest.approx(40 * 600 / 900, abs=1e-3)  # 26.667 ppm
    assert twa["value"] == pytest.approx(40 * 600 / 28800, abs=1e-3)  # 0.833 ppm: 10 min over 8 h
    assert "15-minute STEL 26.67 ppm" in fired.message and "limit 25 ppm" in fired.message
    # STEL falls below the 20 ppm clear level when 40 x (600 s - (t - 900 s)) / 900 s < 20, i.e. t > 1050 s
    assert eng.tick(T0 + 1050 * S) == []
    assert kinds(eng.tick(T0 + 1051 * S)) == [(RESOLVED, None)]


def test_twa_divides_by_8_hours_so_missing_time_counts_as_zero() -> None:
    # 50 ppm for 3 h, readings each minute.  TWA(t) = 50 x t / 480 min reaches 17 ppm at 163.2 min,
    # so the reading at 164 min fires it (50 x 164 / 480 = 17.083 ppm).  STEL fires first, at 8 min
    # (50 x 8 / 15 = 26.7 ppm; at 7 min it is 23.3).
    eng = engine([co_exposure()])
    sigs = minute_series(eng, [50] * 180 + [0])
    assert kinds(sigs) == [(FIRING, "alarm"), (FIRING, "emergency")]
    assert sigs[0].ts == T0 + 8 * MIN
    assert sigs[1].ts == T0 + 164 * MIN
    assert sigs[1].evidence["exposure"]["twa"]["value"] == pytest.approx(50 * 164 / 480, abs=1e-3)
    # the 3 h at 50 ppm leave the 8 h window from 8 h on; the TWA drops under 15 ppm once
    # 50 x (180 - (t - 480)) / 480 < 15, i.e. t > 516 min
    assert kinds(eng.tick(T0 + 515 * MIN)) == []
    assert kinds(eng.tick(T0 + 517 * MIN)) == [(RESOLVED, None)]


def test_a_gap_longer_than_max_hold_counts_as_zero_exposure() -> None:
    eng = engine([co_exposure()])
    feed(eng, [("mg-1", "co", 100, T0)])
    # only 60 s of the 10-minute gap is held: STEL = 100 x 60 / 900 = 6.67 ppm, nothing fires
    assert feed(eng, [("mg-1", "co", 100, T0 + 10 * MIN)]) == []
    eng2 = engine([co_exposure()])
    sigs = minute_series(eng2, [100] * 5)
    assert sigs and sigs[0].evidence["exposure"]["stel"]["value"] == pytest.approx(100 * 240 / 900, abs=1e-3)


def test_window_integral_trims_the_segment_that_straddles_the_window_edge() -> None:
    w = Window(15 * MIN)
    w.add(0, 10 * MIN, 40.0)
    w.add(10 * MIN, 12 * MIN, 40.0)  # merged with the previous segment: same value, contiguous
    assert len(w.segs) == 1
    w.add(12 * MIN, 20 * MIN, 10.0)
    # at 20 min the window is [5, 20] min: 40 x 7 min + 10 x 8 min = 360 ppm.min
    assert w.integral(20 * MIN, None) / MIN == pytest.approx(40 * 7 + 10 * 8)
    # an open reading held from 20 to 21 min adds 10 x 1 (and the window moves to [6, 21])
    assert w.integral(21 * MIN, (20 * MIN, 21 * MIN, 10.0)) / MIN == pytest.approx(40 * 6 + 10 * 8 + 10)
    assert w.integral(60 * MIN, None) == 0.0 and not w.segs


def test_exposure_survives_a_restart() -> None:
    first = engine([co_exposure()])
    minute_series(first, [40] * 9)
    second = engine([co_exposure()], first.twin)
    second.restore(first.snapshot())
    assert feed(second, [("mg-1", "co", 40, T0 + 9 * MIN)]) == []  # 24.0 ppm
    [sig] = feed(second, [("mg-1", "co", 40, T0 + 10 * MIN)])
    assert sig.kind == FIRING and sig.evidence["exposure"]["stel"]["value"] == pytest.approx(26.667, abs=1e-3)
