"""Scenario files: shipped ones fit the demo twin; errors name file:line:field; the fleet is cut down."""

from __future__ import annotations

from pathlib import Path

import pytest

from simulators.plan import SimClock, check_against_twin, involved, restrict, sim_start_ms
from simulators.scenario import (
    FaultStep,
    ScenarioError,
    SourceStep,
    list_scenarios,
    load_scenario,
    parse_duration,
    parse_scenario,
)
from twin.loader import load_twin_file
from twin.twin import Twin

ROOT = Path(__file__).resolve().parents[2]

GOOD = """\
name: t
title: A test
duration: 30m
speed: 100
spaces: [gl-lj-b01-b1-garage]
timeline:
  - {at: 5m, do: source, space: gl-lj-b01-b1-garage, gas: co, rate: 1000, for: 1h30m}
  - at: "00:01:30"
    do: fault
    device: gl-lj-b01-b1-co-03
    fault: {type: stuck, value: 7}
"""


@pytest.fixture(scope="module")
def demo() -> Twin:
    return Twin(load_twin_file(ROOT / "data" / "demo-twin.yaml"))


def test_every_shipped_scenario_loads_and_fits_the_demo_twin(demo: Twin) -> None:
    names = list_scenarios()
    assert {
        "garage-rush-hour",
        "septic-h2s-permit",
        "stuck-sensor",
        "fan-no-airflow",
        "fan-no-answer",
    } <= set(names)
    assert {"construction-fall", "no-helmet"} <= set(names)
    for name in names:
        scenario, root, filename = load_scenario(name)
        check_against_twin(scenario, demo, root, filename)
        assert scenario.name == name and scenario.timeline


def test_durations_in_several_spellings() -> None:
    assert parse_duration("90s") == 90
    assert parse_duration("5m") == 300
    assert parse_duration("1h30m") == 5400
    assert parse_duration("01:02:03") == 3723
    assert parse_duration(12.5) == 12.5
    with pytest.raises(ValueError, match="not a duration"):
        parse_duration("soon")


def test_a_good_scenario_parses_with_its_steps() -> None:
    scenario, _ = parse_scenario(GOOD, "t.yaml")
    source, fault = scenario.timeline
    assert isinstance(source, SourceStep) and source.at == 300 and source.lasts == 5400
    assert isinstance(fault, FaultStep) and fault.at == 90 and fault.fault.type == "stuck"


@pytest.mark.parametrize(
    ("text", "where", "message"),
    [
        (GOOD.replace("gas: co", "gas: smoke"), "t.yaml:7: timeline[0].gas", "Input should be"),
        (GOOD.replace("value: 7", "valu: 7"), "t.yaml:11: timeline[1].fault.valu", "Extra inputs"),
        (GOOD.replace("duration: 30m", "duration: soon"), "t.yaml:3: duration", "not a duration"),
        (GOOD.replace("speed: 100", "speed: -1"), "t.yaml:4: speed", "greater than 0"),
        (GOOD.replace("do: fault", "do: explode"), "t.yaml:8: timeline[1]", "does not match any"),
        ("name: [unclosed", "t.yaml:1", "not valid YAML"),
    ],
)
def test_errors_name_the_file_the_line_and_the_field(text: str, where: str, message: str) -> None:
    with pytest.raises(ScenarioError) as info:
        parse_scenario(text, "t.yaml")
    assert str(info.value).startswith(where)
    assert message in str(info.value)


@pytest.mark.parametrize(
    ("change", "where", "message"),
    [
        (("spaces: [gl-lj-b01-b1-garage]", "spaces: [nowhere]"), "t.yaml:5: spaces[0]", "not in the twin"),
        (("device: gl-lj-b01-b1-co-03", "device: ghost"), "t.yaml:10: timeline[1].device", "not in the twin"),
        (
            ("{type: stuck, value: 7}", "{type: no_airflow}"),
            "t.yaml:11: timeline[1].fault.type",
            "actuator fault",
        ),
        (("{type: stuck, value: 7}", "{type: drift, metric: h2s, per_hour: 1}"), "t.yaml:11", "not 'h2s'"),
    ],
)
def test_references_are_checked_against_the_twin(
    demo: Twin, change: tuple[str, str], where: str, message: str
) -> None:
    scenario, root = parse_scenario(GOOD.replace(*change), "t.yaml")
    with pytest.raises(ScenarioError) as info:
        check_against_twin(scenario, demo, root, "t.yaml")
    assert str(info.value).startswith(where)
    assert message in str(info.value)


def test_a_missing_scenario_names_the_shipped_ones() -> None:
    with pytest.raises(ScenarioError, match="garage-rush-hour"):
        load_scenario("no-such-scenario")


def test_the_fleet_is_cut_down_to_the_devices_involved(demo: Twin) -> None:
    scenario, _ = parse_scenario(GOOD, "t.yaml")
    keep = involved(scenario, demo)
    assert keep == {d.device_id for d in demo.devices_in(space="gl-lj-b01-b1-garage")}
    small = restrict(demo, keep)
    assert set(small.devices) == keep
    assert set(small.spaces) == {"gl-lj-b01-b1-garage"}
    whole, _ = parse_scenario(GOOD.replace("spaces: [gl-lj-b01-b1-garage]\n", ""), "t.yaml")
    assert involved(whole, demo) is None and restrict(demo, None) is demo


def test_the_clock_runs_fast_and_changes_speed_without_a_jump() -> None:
    clock = SimClock(60.0, sim_start_ms=1_000_000, wall_start_ms=0)
    assert clock.sim_ms(1000) == 1_060_000
    assert clock.wall_ms(1_120_000) == 2000
    clock.set_speed(10.0, wall_ms=1000)
    assert clock.sim_ms(1000) == 1_060_000
    assert clock.sim_ms(2000) == 1_070_000


def test_start_time_is_that_time_of_day_in_china() -> None:
    wall = 1_763_683_200_000  # 2025-11-21 08:00 China time
    assert sim_start_ms("17:30", wall) == wall + round(9.5 * 3600 * 1000)
    assert sim_start_ms(None, wall) == wall
