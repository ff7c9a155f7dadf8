"""Injected sensor faults change readings as a failing sensor would."""

from __future__ import annotations

import pytest

from simulators.faults import Battery, ClockSkew, Drift, Dropout, Noise, Offset, SensorFaults, Stuck
from simulators.sensors import Reading

T0 = 1_763_683_200_000
HOUR = 3_600_000
WALL = 1_900_000_000_000


def reading(co: float, ts: int = T0) -> Reading:
    return Reading("co-1", ts, {"co": co, "battery": 80.0})


def test_without_faults_a_reading_is_only_restamped_with_wall_time() -> None:
    faults = SensorFaults()
    out = faults.apply(reading(5.0), T0, WALL)
    assert out == Reading("co-1", WALL, {"co": 5.0, "battery": 80.0})


def test_stuck_repeats_the_last_value_before_the_fault_while_the_air_changes() -> None:
    faults = SensorFaults()
    faults.apply(reading(7.3), T0, WALL)
    faults.inject("co-1", Stuck(type="stuck"), T0)
    values = [faults.apply(reading(v), T0, WALL) for v in (12.0, 30.0, 55.0)]
    assert [r.metrics["co"] for r in values if r] == [7.3, 7.3, 7.3]
    faults.clear("co-1")
    cleared = faults.apply(reading(60.0), T0, WALL)
    assert cleared is not None and cleared.metrics["co"] == 60.0


def test_drift_grows_with_simulated_time_and_offset_is_constant() -> None:
    faults = SensorFaults()
    faults.inject("co-1", Drift(type="drift", metric="co", per_hour=4.0), T0)
    later = faults.apply(reading(5.0), T0 + 3 * HOUR, WALL)
    assert later is not None and later.metrics["co"] == pytest.approx(17.0)
    faults.clear("co-1", ["drift"])
    faults.inject("co-1", Offset(type="offset", metric="co", by=-2.0), T0)
    off = faults.apply(reading(5.0), T0 + 9 * HOUR, WALL)
    assert off is not None and off.metrics["co"] == 3.0


def test_dropouts_lose_about_the_asked_share() -> None:
    faults = SensorFaults(seed=1)
    faults.inject("co-1", Dropout(type="dropout", probability=0.3), T0)
    kept = sum(faults.apply(reading(5.0), T0, WALL) is not None for _ in range(2000))
    assert 1250 < kept < 1550


def test_battery_clock_skew_noise_and_offline() -> None:
    faults = SensorFaults(seed=2)
    faults.inject("co-1", Battery(type="battery", level=6), T0)
    faults.inject("co-1", ClockSkew(type="clock_skew", seconds=-600), T0)
    faults.inject("co-1", Noise(type="noise", metric="co", sigma=3.0), T0)
    outs = [faults.apply(reading(5.0), T0, WALL) for _ in range(50)]
    assert all(r is not None and r.metrics["battery"] == 6 and r.ts == WALL - 600_000 for r in outs)
    assert len({r.metrics["co"] for r in outs if r}) > 40
    faults.offline.add("co-1")
    assert faults.apply(reading(5.0), T0, WALL) is None
