"""Twin loading: a valid file loads; every error names the file, the 1-based line and the field."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.errors import TwinLoadError
from twin.kinds import DeviceKind
from twin.loader import load_twin_file, parse_twin
from twin.twin import Twin

VALID = """\
version: 1
name: 测试街道
sites:
  - id: s1
    name: 测试社区
    location: {lat: 22.72, lon: 114.05}
    buildings:
      - id: b1
        name: 1栋
        location: {lat: 22.7201, lon: 114.0501}
        footprint: [[114.0500, 22.7200], [114.0502, 22.7200], [114.0502, 22.7202]]
        floors_below: 1
        floors:
          - level: -1
            name: B1
            spaces:
              - id: b1-garage
                name: 地下车库
                kind: basement_garage
                devices:
                  - id: co-1
                    kind: co_sensor
                    position: {x: 0.2, y: 0.3}
                  - id: fan-1
                    kind: fan
    spaces:
      - id: st-1
        name: 化粪池
        kind: septic_tank
        confined: true
        location: {lat: 22.719, lon: 114.049}
        devices:
          - id: mg-1
            kind: multi_gas
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "twin.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def line_of(text: str, needle: str, nth: int = 1) -> int:
    """1-based line of the nth line containing `needle`."""
    hits = [i for i, line in enumerate(text.splitlines(), start=1) if needle in line]
    return hits[nth - 1]


def load_error(tmp_path: Path, text: str) -> TwinLoadError:
    path = write(tmp_path, text)
    with pytest.raises(TwinLoadError) as info:
        load_twin_file(path)
    err = info.value
    assert err.file == str(path)
    if err.line is not None:
        assert str(err).startswith(f"{path}:{err.line}: ")
    return err


def test_valid_small_twin_loads(tmp_path: Path) -> None:
    twin = Twin(load_twin_file(write(tmp_path, VALID)))
    assert set(twin.devices) == {"co-1", "fan-1", "mg-1"}
    co = twin.devices["co-1"]
    assert (co.site, co.building, co.floor_level, co.space) == ("s1", "b1", -1, "b1-garage")
    assert co.kind == DeviceKind.CO_SENSOR and co.metrics["co"].unit == "ppm"
    mg = twin.devices["mg-1"]
    assert mg.building == "" and mg.floor_level is None and twin.spaces["st-1"].confined


def test_wrong_device_kind_names_line_and_field(tmp_path: Path) -> None:
    text = VALID.replace("kind: co_sensor", "kind: co_detector")
    err = load_error(tmp_path, text)
    assert err.line == line_of(text, "kind: co_detector")
    assert err.field == "sites[0].buildings[0].floors[0].spaces[0].devices[0].kind"
    assert "co_sensor" in str(err)  # the message lists what is expected


def test_missing_field_names_the_parent_line_and_the_field(tmp_path: Path) -> None:
    text = VALID.replace("        location: {lat: 22.7201, lon: 114.0501}\n", "")
    err = load_error(tmp_path, text)
    assert err.field == "sites[0].buildings[0].location"
    assert err.line == line_of(text, "- id: b1")
    assert "required" in str(err).lower()


def test_duplicate_device_id_names_both_lines(tmp_path: Path) -> None:
    text = VALID.replace("id: fan-1", "id: co-1")
    err = load_error(tmp_path, text)
    assert err.line == line_of(text, "id: co-1", nth=2)
    assert err.field == "sites[0].buildings[0].floors[0].spaces[0].devices[1].id"
    assert f"first on line {line_of(text, 'id: co-1')}" in str(err)
    assert "'co-1'" in str(err)


def test_bad_yaml_names_the_line(tmp_path: Path) -> None:
    text = VALID.replace("        name: 1栋\n", "        name: [1栋\n")
    err = load_error(tmp_path, text)
    assert err.line is not None
    assert line_of(text, "name: [1栋") <= err.line <= line_of(text, "name: [1栋") + 2
    assert "YAML" in str(err)


def test_device_id_that_cannot_be_a_topic_level(tmp_path: Path) -> None:
    text = VALID.replace("id: fan-1", "id: fan/1")
    err = load_error(tmp_path, text)
    assert err.line == line_of(text, "id: fan/1")
    assert err.field == "sites[0].buildings[0].floors[0].spaces[0].devices[1].id"


def test_range_for_a_metric_the_kind_does_not_report(tmp_path: Path) -> None:
    text = VALID.replace("position: {x: 0.2, y: 0.3}", "ranges: {h2s: [0, 50]}")
    err = load_error(tmp_path, text)
    assert err.field is not None and err.field.startswith(
        "sites[0].buildings[0].floors[0].spaces[0].devices[0]"
    )
    assert "h2s" in str(err)


def test_missing_file_and_non_mapping(tmp_path: Path) -> None:
    with pytest.raises(TwinLoadError) as info:
        load_twin_file(tmp_path / "nope.yaml")
    assert info.value.file == str(tmp_path / "nope.yaml")
    with pytest.raises(TwinLoadError) as info:
        parse_twin("- just\n- a list\n", "list.yaml")
    assert info.value.file == "list.yaml" and info.value.line == 1


def test_device_gateway_must_be_declared() -> None:
    text = """
version: 1
name: x
sites:
  - id: s
    name: S
    location: {lat: 1, lon: 1}
    gateways:
      - {id: gw-a, name: A}
    spaces:
      - id: sp
        name: Sp
        kind: sewer_well
        devices:
          - {id: d1, kind: h2s_sensor, gateway: gw-a}
          - {id: d2, kind: h2s_sensor, gateway: gw-b}
"""
    with pytest.raises(TwinLoadError) as err:
        parse_twin(text, "gw.yaml")
    assert err.value.line == 16 and "gateway 'gw-b' is not declared" in str(err.value)
    assert err.value.field is not None and err.value.field.endswith("devices[1].gateway")


def test_gateway_and_device_may_not_share_an_id() -> None:
    text = """
version: 1
name: x
sites:
  - id: s
    name: S
    location: {lat: 1, lon: 1}
    gateways:
      - {id: same, name: A}
    spaces:
      - id: sp
        name: Sp
        kind: sewer_well
        devices:
          - {id: same, kind: h2s_sensor}
"""
    with pytest.raises(TwinLoadError, match=r"device id 'same' is used twice \(first on line 9\)"):
        parse_twin(text, "gw.yaml")
