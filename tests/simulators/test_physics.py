"""Well-mixed air: exponential approach to the source-driven equilibrium, fans, valves, oxygen, sensors."""

from __future__ import annotations

import math
from statistics import mean

import pytest

from simulators.physics import OUTDOOR, Physics, Source, SpaceAir
from simulators.sensors import SensorFleet
from twin.loader import parse_twin
from twin.twin import Twin

T0 = 1_763_683_200_000  # 2025-11-21 08:00 China time
MIN = 60_000

TWIN = """\
version: 1
name: t
sites:
  - id: s1
    name: s
    location: {lat: 22.72, lon: 114.05}
    spaces:
      - id: garage
        name: garage
        kind: basement_garage
        volume_m3: 6000
        air_changes_per_h: 0.5
        devices:
          - {id: co-1, kind: co_sensor}
          - {id: co-2, kind: co_sensor}
          - {id: fan-1, kind: fan, airflow_m3_h: 18000}
          - {id: fan-2, kind: fan}
      - id: tank
        name: tank
        kind: septic_tank
        confined: true
        devices:
          - {id: mg-1, kind: multi_gas}
          - {id: tank-fan, kind: fan}
      - id: kitchen
        name: kitchen
        kind: kitchen
        devices:
          - {id: lel-1, kind: lel_sensor}
          - {id: valve-1, kind: valve}
"""


@pytest.fixture
def twin() -> Twin:
    return Twin(parse_twin(TWIN))


def still_air() -> SpaceAir:
    """A space with no built-in sources (an office) so only the test's sources count."""
    from twin.kinds import SpaceKind

    return SpaceAir("office", SpaceKind.OFFICE, volume_m3=1000.0, natural_ach=0.5)


def test_level_approaches_the_equilibrium_with_time_constant_one_over_lambda() -> None:
    air = still_air()
    air.sources.append(Source("co", 20_000.0, T0))  # ppm·m3/h
    eq = OUTDOOR["co"] + 20_000.0 / (0.5 * 1000.0)  # 40.5 ppm
    assert air.equilibrium("co", T0) == pytest.approx(eq)
    tau_ms = round(air.time_constant_s() * 1000)
    assert tau_ms == 2 * 3600 * 1000
    air.step(T0, T0 + tau_ms)  # one time constant: 1 - 1/e of the way from outdoor to equilibrium
    expected = eq + (OUTDOOR["co"] - eq) * math.exp(-1)
    assert air.levels["co"] == pytest.approx(expected, rel=1e-9)


def test_stepping_in_pieces_equals_one_step() -> None:
    a, b = still_air(), still_air()
    for air in (a, b):
        air.sources.append(Source("h2s", 500.0, T0))
    a.step(T0, T0 + 30 * MIN)
    for k in range(30):
        b.step(T0 + k * MIN, T0 + (k + 1) * MIN)
    assert a.levels["h2s"] == pytest.approx(b.levels["h2s"], rel=1e-9)


def test_switching_fans_on_lowers_co_exponentially_to_a_lower_equilibrium(twin: Twin) -> None:
    physics = Physics(twin, T0)
    garage = physics.spaces["garage"]
    garage.activity = 0.0  # no traffic of its own: only the idling cars emit, at a steady rate
    physics.settle()
    physics.add_source("garage", Source("co", 300_000.0, T0, label="idling cars"))
    physics.advance(T0 + 120 * MIN)
    high = garage.levels["co"]
    assert high > 40
    physics.set_fan("fan-1", T0 + 120 * MIN, on=True, speed=3)
    physics.set_fan("fan-2", T0 + 120 * MIN, on=True, speed=3)
    # 0.5 natural + 18000/6000 + 24000/6000 (a garage fan's typical airflow) = 7.5 air changes/h
    assert garage.air_changes_per_h() == pytest.approx(7.5)
    tau_ms = round(garage.time_constant_s() * 1000)
    eq = garage.equilibrium("co", T0 + 120 * MIN)
    assert eq < 25 < high
    physics.advance(T0 + 120 * MIN + tau_ms)
    assert garage.levels["co"] - eq == pytest.approx((high - eq) * math.exp(-1), rel=1e-6)
    physics.advance(T0 + 120 * MIN + 10 * tau_ms)
    assert garage.levels["co"] == pytest.approx(eq, rel=1e-3)


def test_lower_speed_step_moves_less_air(twin: Twin) -> None:
    physics = Physics(twin, T0)
    garage = physics.spaces["garage"]
    rates = []
    for speed in (1, 2, 3):
        physics.set_fan("fan-1", T0, on=True, speed=speed)
        rates.append(garage.air_changes_per_h())
    assert rates[0] < rates[1] < rates[2]
    assert rates[2] - 0.5 == pytest.approx(3.0)


def test_fermentation_lowers_oxygen_and_ventilation_brings_it_back(twin: Twin) -> None:
    physics = Physics(twin, T0)
    tank = physics.spaces["tank"]
    tank.activity = 30.0  # closed for weeks
    physics.settle()
    assert tank.levels["o2"] < 19.5 and tank.levels["h2s"] > 10
    physics.set_fan("tank-fan", T0, on=True)
    physics.advance(T0 + 15 * MIN)
    assert tank.levels["o2"] > 20.5 and tank.levels["h2s"] < 1


def test_a_shut_valve_stops_the_leak_it_feeds(twin: Twin) -> None:
    physics = Physics(twin, T0)
    kitchen = physics.spaces["kitchen"]
    physics.add_source("kitchen", Source("ch4", 8000.0, T0, valve="valve-1"))
    physics.advance(T0 + 30 * MIN)
    peak = kitchen.reading("lel")
    assert peak is not None and peak > 20
    physics.set_valve("valve-1", T0 + 30 * MIN, open_=False)
    physics.advance(T0 + 90 * MIN)
    low = kitchen.reading("lel")
    assert low is not None and low < peak * math.exp(-1.5)


def test_sensors_read_the_air_of_their_space_with_noise(twin: Twin) -> None:
    physics = Physics(twin, T0)
    fleet = SensorFleet(twin, seed=3, event_probability=0.0)
    for sid, space in fleet.spaces.items():
        space.air = physics.spaces[sid]
    physics.add_source("garage", Source("co", 600_000.0, T0))
    physics.advance(T0 + 60 * MIN)
    level = physics.spaces["garage"].levels["co"]
    readings = [fleet.read("co-1", T0 + 60 * MIN + k * 1000).metrics["co"] for k in range(50)]
    assert mean(readings) == pytest.approx(level, abs=3.0)
    assert len(set(readings)) > 5  # noise, not a flat line


def test_fan_current_follows_its_state_and_a_broken_belt(twin: Twin) -> None:
    physics = Physics(twin, T0)
    fan = physics.fans["fan-1"]
    assert fan.current_a() == 0
    physics.set_fan("fan-1", T0, on=True, speed=3)
    running = fan.current_a()
    fan.moves_air = False
    assert 0 < fan.current_a() < running
    assert fan.flow_m3_h() == 0 and fan.rpm() > 0


def test_in_plain_mode_a_fan_thins_out_a_random_gas_event(twin: Twin) -> None:
    def co_after(fan_on: bool) -> float:
        fleet = SensorFleet(twin, seed=5, event_probability=0.0)
        physics = fleet.attach_physics(Physics(twin, T0))
        fleet.trigger_event(
            "garage", T0, scenario={"co": (150.0, 150.0)}, rise_s=60, hold_s=3600, decay_s=600
        )
        if fan_on:
            physics.set_fan("fan-1", T0 + 2 * MIN, on=True)
            physics.set_fan("fan-2", T0 + 2 * MIN, on=True)
        readings = [fleet.read_many(["co-1"], T0 + k * MIN)[0].metrics["co"] for k in range(0, 40)]
        return mean(readings[-5:])

    still, ventilated = co_after(False), co_after(True)
    assert still > 140
    # 7.5 air changes/h against 0.5: what is left of the release is about 0.5 / 7.5 of it
    assert ventilated < 25


def test_twin_air_fields_are_optional_with_typical_values_by_kind(twin: Twin) -> None:
    garage, tank = twin.spaces["garage"], twin.spaces["tank"]
    assert (garage.volume(), garage.natural_air_changes()) == (6000, 0.5)  # its own
    assert (tank.volume(), tank.natural_air_changes()) == (40, 0.1)  # a septic tank's typical ones
    physics = Physics(twin, T0)
    assert physics.fans["fan-1"].airflow_m3_h == 18000 and physics.fans["fan-2"].airflow_m3_h == 24000


def test_only_fans_take_an_airflow() -> None:
    from core.errors import TwinLoadError

    with pytest.raises(TwinLoadError, match=r"<twin>:15: sites\[0\].spaces\[0\].devices\[1\]: .*only fans"):
        parse_twin(
            TWIN.replace("{id: co-2, kind: co_sensor}", "{id: co-2, kind: co_sensor, airflow_m3_h: 5}")
        )
