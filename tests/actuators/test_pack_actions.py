"""Rule actions in the shipped packs: where the reference deployments act, in the contract's words."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from rules.model import Rule
from rules.packs import load_packs


def actions_of(rule_id: str) -> list[tuple[str, str | None, dict[str, object]]]:
    rule = next(r for r in load_packs(None) if r.id == rule_id)
    return [(a.device_kind, a.drives, a.params) for a in rule.actions]


def test_garage_co_runs_the_exhaust_fans_and_checks_the_air() -> None:
    rule = next(r for r in load_packs(None) if r.id == "garage-co")
    first = rule.actions[0]
    assert first.device_kind == "fan" and first.params["on"] is True and first.stop_params == {"on": False}
    assert first.verify is not None and first.verify.metric == "co"


def test_confined_space_gas_starts_fans_disinfection_and_biodegradation() -> None:
    for rid in ("confined-h2s", "confined-ch4"):
        kinds = {(k, d) for k, d, _ in actions_of(rid)}
        assert kinds == {("fan", None), ("relay", "disinfection"), ("relay", "biodegradation")}


def test_kitchen_and_home_gas_shuts_the_valve_and_never_reopens_it() -> None:
    rule = next(r for r in load_packs(None) if r.id == "kitchen-lel")
    (valve,) = rule.actions
    assert valve.params == {"open": False} and valve.stop_params is None
    assert rule.target.space_kinds is not None and "residence" in rule.target.space_kinds


def test_an_action_outside_the_contract_is_refused_at_load() -> None:
    base = {
        "id": "x",
        "name": "x",
        "category": "gas",
        "type": "threshold",
        "metric": "co",
        "citation": {"standard": "t", "clause": "1"},
        "levels": [{"severity": "warning", "trigger": 25, "clear": 20}],
    }
    with pytest.raises(ValidationError, match="speed"):
        Rule.model_validate({**base, "actions": [{"device_kind": "fan", "params": {"on": True, "speed": 7}}]})
    with pytest.raises(ValidationError, match="understands"):
        Rule.model_validate({**base, "actions": [{"device_kind": "valve", "action": "play", "params": {}}]})
