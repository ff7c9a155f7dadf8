"""The seeded value model: baselines, ranges, determinism, gas events that rise and decay."""

from __future__ import annotations

from pathlib import Path
from statistics import mean

import pytest

from simulators.sensors import GasEvent, Reading, SensorFleet, local_hour
from twin.loader import load_twin_file, parse_twin
from twin.twin import Twin

ROOT = Path(__file__).resolve().parents[2]
# 2025-11-21 00:00 China Standard Time (UTC+8), as epoch ms
MIDNIGHT = 1_763_654_400_000
MINUTE = 60_000
HOUR = 60 * MINUTE

SMALL = """\
version: 1
name: 小区
sites:
  - id: s1
    name: 社区
    location: {lat: 22.72, lon: 114.05}
    buildings:
      - id: b1
        name: 1栋
        location: {lat: 22.72, lon: 114.05}
        floors:
          - level: -1
            name: B1
            spaces:
              - id: garage
                name: 车库
                kind: basement_garage
                devices:
                  - {id: co-1, kind: co_sensor, position: {x: 0.1, y: 0.5}}
                  - {id: co-2, kind: co_sensor, position: {x: 0.5, y: 0.5}}
                  - {id: co-3, kind: co_sensor, position: {x: 0.9, y: 0.5}, ranges: {co: [0, 50]}}
                  - {id: fan-1, kind: fan}
              - id: plant
                name: 设备房
                kind: plant_room
                devices:
                  - {id: th-1, kind: temp_humidity}
          - level: 12
            name: 12F
            spaces:
              - id: home
                name: 住户
                kind: residence
                devices:
                  - {id: sos-1, kind: panic_button}
              - id: kitchen
                name: 厨房
                kind: kitchen
                devices:
                  - {id: lel-1, kind: lel_sensor}
                  - {id: valve-1, kind: valve}
    spaces:
      - id: septic
        name: 化粪池
        kind: septic_tank
        confined: true
        location: {lat: 22.719, lon: 114.049}
        devices:
          - {id: mg-1, kind: multi_gas}
          - {id: o2-1, kind: o2_sensor}
"""


@pytest.fixture(scope="module")
def small() -> Twin:
    return Twin(parse_twin(SMALL, "small.yaml"))


def run(
    fleet: SensorFleet, device_id: str, start: int, minutes: int, step_min: float = 1.0
) -> list[dict[str, float]]:
    return [
        fleet.read(device_id, start + int(i * step_min * MINUTE)).metrics
        for i in range(int(minutes / step_min))
    ]


def test_local_hour_is_china_time() -> None:
    assert local_hour(MIDNIGHT) == 0.0
    assert local_hour(MIDNIGHT + 8 * HOUR + 30 * MINUTE) == 8.5


def test_every_value_of_the_demo_twin_stays_in_its_range() -> None:
    twin = Twin(load_twin_file(ROOT / "data" / "demo-twin.yaml"))
    events: list[GasEvent] = []
    fleet = SensorFleet(twin, seed=7, event_probability=0.02, on_event=events.append)
    ids = list(fleet.devices)
    for k in range(2 * 96):  # two days in 15-minute steps
        for reading in fleet.read_many(ids, MIDNIGHT + k * 15 * MINUTE):
            specs = twin.devices[reading.device_id].metrics
            assert set(reading.metrics) == set(specs), reading.device_id
            for metric, value in reading.metrics.items():
                assert specs[metric].min <= value <= specs[metric].max, (reading.device_id, metric, value)
    assert len(events) > 20  # plenty of events were in play while checking


def test_same_seed_same_values_other_seed_other_values(small: Twin) -> None:
    def series(seed: int) -> list[Reading]:
        fleet = SensorFleet(small, seed=seed, event_probability=0.05)
        return [r for k in range(200) for r in fleet.read_many(fleet.devices, MIDNIGHT + k * MINUTE)]

    assert series(42) == series(42)
    assert series(42) != series(43)


def test_baselines_are_plausible(small: Twin) -> None:
    fleet = SensorFleet(small, seed=1, event_probability=0.0)
    night = run(fleet, "co-2", MIDNIGHT + 3 * HOUR, 30)
    rush = run(fleet, "co-2", MIDNIGHT + 8 * HOUR, 30)
    assert 0.5 < mean(r["co"] for r in night) < 6
    assert mean(r["co"] for r in night) + 2 < mean(r["co"] for r in rush) < 14  # the morning rush shows
    o2 = [r["o2"] for r in run(fleet, "o2-1", MIDNIGHT, 60)]
    assert min(o2) > 20.0 and max(o2) < 21.2
    gas = run(fleet, "mg-1", MIDNIGHT, 60)
    assert all(r["h2s"] <= 2 and r["ch4"] <= 3 and r["lel"] <= 3 for r in gas)
    assert all(r["pressed"] == 0 for r in run(fleet, "sos-1", MIDNIGHT, 60))
    assert all(r["current"] == 0 for r in run(fleet, "fan-1", MIDNIGHT, 10))
    assert "valve-1" not in fleet.devices  # reports no metrics


def test_daily_temperature_cycle_and_draining_battery(small: Twin) -> None:
    fleet = SensorFleet(small, seed=3, event_probability=0.0)
    day = run(fleet, "th-1", MIDNIGHT, 24 * 60, step_min=30)
    by_hour = {i // 2: r for i, r in enumerate(day)}
    assert by_hour[15]["temperature"] > by_hour[4]["temperature"] + 1  # warmest mid-afternoon
    assert 27 < mean(r["temperature"] for r in day) < 33  # a plant room runs warm
    assert by_hour[15]["humidity"] < by_hour[4]["humidity"]
    month = run(fleet, "co-1", MIDNIGHT, 60 * 24 * 60, step_min=24 * 60)
    battery = [r["battery"] for r in month]
    assert battery == sorted(battery, reverse=True) and battery[0] - battery[-1] > 1.0
    assert all(-120 < r["rssi"] < -80 for r in month)  # underground: weak signal


def test_strength_rises_holds_and_decays() -> None:
    e = GasEvent("s", start_ms=1_000_000, rise_s=100, hold_s=50, decay_s=100, deltas={"co": 100.0})
    s = [e.strength(1_000_000 + int(t * 1000)) for t in (-10, 0, 25, 50, 75, 100, 140, 250, 400, 600)]
    assert s[0] == s[1] == 0
    assert s[2] < s[3] < s[4] < s[5] == 1.0 == s[6]
    assert 1.0 > s[7] > s[8] > s[9] > 0
    assert e.strength(e.end_ms) <= 0.0101


def test_garage_co_event_rises_to_the_peak_then_decays(small: Twin) -> None:
    fleet = SensorFleet(small, seed=5, event_probability=0.0)
    start = MIDNIGHT + 3 * HOUR
    before = run(fleet, "co-1", start - 10 * MINUTE, 10)
    fleet.trigger_event("garage", start, scenario={"co": (150.0, 150.0)}, rise_s=180, hold_s=120, decay_s=180)
    after = run(fleet, "co-1", start, 40, step_min=0.5)
    co = [r["co"] for r in after]
    peak_at = co.index(max(co))
    assert max(r["co"] for r in before) < 10
    assert 140 < max(co) < 160
    assert 6 <= peak_at <= 10  # during the plateau: 3 to 5 minutes in
    assert co[1] < co[3] < co[5]  # rising
    assert co[12] > co[16] > co[24] > co[40]  # decaying
    assert co[-1] < 12
    assert fleet.active_events(start + 40 * MINUTE) == []


def test_event_is_seen_weaker_further_away_and_clamped(small: Twin) -> None:
    fleet = SensorFleet(small, seed=5, event_probability=0.0)
    start = MIDNIGHT + 3 * HOUR
    fleet.trigger_event("garage", start, scenario={"co": (150.0, 150.0)}, rise_s=60, hold_s=600, decay_s=60)
    t = start + 5 * MINUTE
    near, far, capped = (fleet.read(d, t).metrics["co"] for d in ("co-1", "co-2", "co-3"))
    assert near > 140 and far > 140  # a triggered event has no origin: the whole space sees it
    assert capped == 50.0  # co-3's own range is [0, 50]


def test_random_events_start_in_gas_spaces(small: Twin) -> None:
    events: list[GasEvent] = []
    fleet = SensorFleet(small, seed=11, event_probability=1.0, on_event=events.append)
    co = [r.metrics["co"] for k in range(20) for r in [fleet.read("co-1", MIDNIGHT + k * MINUTE)]]
    assert events and events[0].space_id == "garage" and events[0].origin == (0.1, 0.5)
    assert 80 <= events[0].deltas["co"] <= 200
    assert max(co) > 60
    assert len([e for e in events if e.space_id == "garage"]) == 1  # one event at a time per space
    fleet.read_many(["mg-1"] * 30, MIDNIGHT)
    septic = fleet.active_events(MIDNIGHT + 8 * MINUTE)
    assert [e.space_id for e in septic if e.space_id == "septic"] == ["septic"]


def test_septic_tank_event_raises_h2s_and_methane_and_lowers_oxygen(small: Twin) -> None:
    fleet = SensorFleet(small, seed=2, event_probability=0.0)
    event = fleet.trigger_event("septic", MIDNIGHT, rise_s=120, hold_s=300, decay_s=200)
    assert 15 <= event.deltas["h2s"] <= 30 and event.deltas["o2"] < 0
    at_peak = fleet.read("mg-1", MIDNIGHT + 5 * MINUTE).metrics
    assert at_peak["h2s"] >= 14 and at_peak["ch4"] >= 10 and at_peak["o2"] < 20.0
    assert fleet.read("o2-1", MIDNIGHT + 5 * MINUTE).metrics["o2"] < 20.0
