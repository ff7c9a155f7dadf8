"""The shipped packs: they load, cite their sources, round-trip, and bad packs say where they are wrong."""

from __future__ import annotations

from pathlib import Path

import pytest

from rules import Rule, RuleLoadError, load_packs, parse_pack, shipped_packs
from rules.engine import RuleEngine
from rules.kinds import PLUGINS, rule_json_schema
from rules.kinds.exposure import ExposureRule
from rules.kinds.threshold import ThresholdRule
from twin.loader import load_twin_file
from twin.twin import Twin

EXPECTED_PACKS = {
    "anomaly",
    "basement_garage",
    "confined_space",
    "construction_site_camera",
    "device_health",
    "elderly_panic",
    "kitchen_gas",
}
VM_20C = 8.314462618 * 293.15 / 101.325  # L/mol at 20 degC, 101.3 kPa


def ppm(mg_m3: float, molar_mass: float) -> float:
    return mg_m3 * VM_20C / molar_mass


def by_id() -> dict[str, Rule]:
    return {r.id: r for r in load_packs()}


def test_every_shipped_pack_loads_and_every_rule_cites_its_source() -> None:
    assert {p.stem for p in shipped_packs()} == EXPECTED_PACKS
    rules = load_packs()
    assert len({r.id for r in rules}) == len(rules)
    for r in rules:
        assert r.citation.standard and r.citation.clause, r.id
        assert r.pack in EXPECTED_PACKS
        if r.pack in ("device_health", "anomaly"):
            assert r.citation.kind == "practice", r.id
        if isinstance(r, ThresholdRule):  # every gas threshold figure comes from a standard
            assert r.citation.kind == "standard", r.id
            assert all(lv.basis for lv in r.levels), r.id


def test_every_rule_kind_is_used_by_a_pack() -> None:
    assert {r.type for r in load_packs()} == set(PLUGINS)


def test_pack_figures_never_exceed_the_converted_limits() -> None:
    rules = by_id()
    h2s = {lv.severity.value: lv.trigger for lv in rules["confined-h2s"].levels}  # type: ignore[attr-defined]
    assert h2s["alarm"] <= ppm(10, 34.08) < h2s["alarm"] + 0.1  # MAC 10 mg/m3 = 7.06 ppm
    assert h2s["emergency"] <= 2 * ppm(10, 34.08)
    co = {lv.severity.value: lv.trigger for lv in rules["confined-co"].levels}  # type: ignore[attr-defined]
    assert co["alarm"] <= ppm(30, 28.01) < co["alarm"] + 1  # PC-STEL 30 mg/m3 = 25.8 ppm
    exposure = rules["confined-co-exposure"]
    assert isinstance(exposure, ExposureRule)
    limits = {lim.kind: lim.limit for lim in exposure.limits}
    assert limits["twa"] <= ppm(20, 28.01) < limits["twa"] + 1  # PC-TWA 20 mg/m3 = 17.2 ppm
    assert limits["stel"] <= ppm(30, 28.01)
    garage = {lv.severity.value: lv for lv in rules["garage-co"].levels}  # type: ignore[attr-defined]
    assert garage["warning"].trigger <= ppm(30, 28.01)  # GB 50736 6.3.8: 30 mg/m3
    for rid in ("kitchen-lel", "confined-lel"):
        lel = {lv.severity.value: lv for lv in rules[rid].levels}  # type: ignore[attr-defined]
        assert lel["alarm"].trigger <= 25 and lel["alarm"].bounds.max == 25
        assert lel["emergency"].trigger <= 50 and lel["emergency"].bounds.max == 50


def test_rules_round_trip_through_dicts() -> None:
    for r in load_packs():
        again = Rule.model_validate(r.to_dict())
        assert again == r and type(again) is type(r)
    assert "discriminator" in str(rule_json_schema())


def test_all_packs_run_on_the_demo_twin() -> None:
    twin = Twin(load_twin_file(Path(__file__).parents[2] / "data" / "demo-twin.yaml"))
    eng = RuleEngine(twin, load_packs())
    try:
        assert isinstance(eng.tick(1_795_399_200_000), list)
        assert eng.snapshot()["format"] == 1
    finally:
        eng.close()


PACK = """\
pack: test
rules:
  - id: ok
    name: ok
    category: gas
    type: threshold
    metric: co
    citation: {standard: x, clause: '1'}
    levels: [{severity: alarm, trigger: 50}]
  - id: bad
    name: bad
    category: gas
    type: threshold
    metric: co
    citation: {standard: x, clause: '1'}
    levels:
      - severity: warning
        trigger: 60
      - severity: alarm
        trigger: fifty
"""


@pytest.mark.parametrize(
    ("text", "line", "field", "message"),
    [
        (PACK, 20, "rules[1].levels[1].trigger", "valid number"),
        (
            PACK.replace("    citation: {standard: x, clause: '1'}\n    levels:\n", "    levels:\n"),
            10,
            "rules[1].citation",
            "Field required",
        ),
        (
            PACK.replace(
                "type: threshold\n    metric: co\n    citation: {standard: x, clause: '1'}\n    levels: [",
                "type: thresold\n    metric: co\n    citation: {standard: x, clause: '1'}\n    levels: [",
            ),
            6,
            "rules[0].type",
            "thresold",
        ),
        (PACK.replace("  - id: ok\n", "  - id: ok\n    colour: red\n"), 4, "rules[0].colour", "Extra inputs"),
        (PACK.replace("pack: test\n", "pack: test\nowner: me\n"), 2, "owner", "unknown key"),
        (PACK.replace("trigger: 50}]", "trigger: 50]"), 9, None, "not valid YAML"),
    ],
)
def test_pack_errors_name_the_file_line_and_field(
    text: str, line: int, field: str | None, message: str
) -> None:
    with pytest.raises(RuleLoadError) as err:
        parse_pack(text, "site.yaml")
    assert err.value.file == "site.yaml"
    assert err.value.line == line, str(err.value)
    assert err.value.field == field, str(err.value)
    assert message in str(err.value)


def test_a_ladder_that_is_not_stricter_with_severity_is_refused() -> None:
    with pytest.raises(RuleLoadError, match="must be further above"):
        parse_pack(PACK.replace("trigger: fifty", "trigger: 40"), "site.yaml")


def test_duplicate_ids_across_packs_name_both_files(tmp_path: Path) -> None:
    one, two = tmp_path / "one.yaml", tmp_path / "two.yaml"
    ok_only = PACK.split("  - id: bad", maxsplit=1)[0]
    one.write_text(ok_only, encoding="utf-8")
    two.write_text(ok_only, encoding="utf-8")
    with pytest.raises(RuleLoadError, match=r"already defined in .*one.yaml") as err:
        load_packs([one, two])
    assert err.value.file == str(two) and err.value.line == 3
    with pytest.raises(RuleLoadError, match="cannot read"):
        load_packs([tmp_path / "missing.yaml"])


def test_a_rule_kind_is_one_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The example of docs/rules.md, dropped in as a file, is found as a kind."""
    import sys

    import rules.kinds as kinds_pkg

    doc = (Path(__file__).parents[2] / "docs" / "rules.md").read_text(encoding="utf-8")
    example = doc.split("```python\n", 2)[1].split("```", 1)[0]
    assert 'type: Literal["dew"]' in example
    (tmp_path / "dew.py").write_text(example, encoding="utf-8")
    monkeypatch.setattr(kinds_pkg, "__path__", [*kinds_pkg.__path__, str(tmp_path)])
    try:
        found = kinds_pkg._discover()
    finally:
        sys.modules.pop("rules.kinds.dew", None)
    assert set(found) == set(PLUGINS) | {"dew"}
    dew = found["dew"].rule.model_validate(
        {"id": "dew", "name": "dew", "category": "climate", "citation": {"standard": "x", "clause": "1"}}
    )
    assert dew.type == "dew" and found["dew"].evaluator.__name__ == "DewEvaluator"
