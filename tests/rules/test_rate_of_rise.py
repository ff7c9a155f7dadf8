"""Rate-of-rise rules: the rise per minute over a window, through levels like a threshold."""

from __future__ import annotations

from typing import Any

from core.alarms import SignalKind
from tests.rules.support import T0, S, engine, series

FIRING, PENDING, RESOLVED = SignalKind.FIRING, SignalKind.PENDING, SignalKind.RESOLVED

RISE: dict[str, Any] = {
    "id": "co-rise",
    "type": "rate_of_rise",
    "metric": "co",
    "window_s": 60,
    "target": {"device_kinds": ["co_sensor"]},
    "levels": [{"severity": "warning", "trigger": 10, "clear": 4, "repeat": 2}],
}


def test_a_fast_rise_fires_and_a_plateau_resolves() -> None:
    eng = engine([RISE])
    # +1 ppm per 5 s = 12 ppm/min once the window spans 30 s; then a plateau
    values = [float(v) for v in range(0, 20)] + [20.0] * 14
    sigs = series(eng, "co-1", "co", values, step_s=5)
    assert [(s.kind, s.ts) for s in sigs] == [
        (PENDING, T0 + 30 * S),  # first rate: (6 - 0) ppm over 30 s = 12 ppm/min
        (FIRING, T0 + 35 * S),  # second reading beyond 10 ppm/min (repeat 2)
        # plateau at 20 from 100 s; at 140 s the window starts at 16 ppm (4 ppm/min), at 145 s at
        # 17 ppm: 3 ppm/min, below the 4 ppm/min clear level
        (RESOLVED, T0 + 145 * S),
    ]
    fired = sigs[1]
    assert fired.message.startswith("CO rise 12 ppm/min in 6栋B1地下车库 above 10 ppm/min for 5 s")
    assert fired.evidence["unit"] == "ppm/min"


def test_a_slow_drift_and_noise_do_not_fire() -> None:
    eng = engine([RISE])
    slow = [5 + 0.05 * i for i in range(120)]  # 0.6 ppm/min
    assert series(eng, "co-1", "co", slow, step_s=5) == []
    noisy = [5.0, 9.0] * 30  # a jumpy sensor: no sustained rise over the window
    assert series(eng, "co-7", "co", noisy, step_s=5) == []


def test_the_rise_window_survives_a_restart() -> None:
    first = engine([RISE])
    series(first, "co-1", "co", [0.0, 1.0, 2.0, 3.0, 4.0], step_s=5)
    second = engine([RISE], first.twin)
    second.restore(first.snapshot())
    sigs = series(second, "co-1", "co", [5.0, 6.0, 7.0], start=T0 + 25 * S, step_s=5)
    assert [s.kind for s in sigs] == [PENDING, FIRING]
