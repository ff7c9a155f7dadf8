"""Building overrides: within the administrator's bounds they win the building; outside they are refused."""

from __future__ import annotations

from typing import Any

import pytest

from core.alarms import SignalKind
from rules import Rule, RuleOverrideError, override
from tests.rules.support import T0, engine, feed, rule

GARAGE_CO: dict[str, Any] = {
    "id": "garage-co",
    "version": 4,
    "type": "threshold",
    "metric": "co",
    "target": {"device_kinds": ["co_sensor"], "space_kinds": ["basement_garage"]},
    "levels": [
        {"severity": "warning", "trigger": 25, "clear": 20, "bounds": {"min": 10, "max": 25}},
        {"severity": "alarm", "trigger": 50, "clear": 40, "bounds": {"min": 25, "max": 50}},
        {"severity": "emergency", "trigger": 150, "clear": 120},
    ],
}


def test_override_within_bounds_makes_a_narrower_higher_priority_rule() -> None:
    base = rule(GARAGE_CO)
    tight = override(base, "b6", {"warning": 15, "alarm": {"trigger": 35, "clear": 30}})
    assert tight.id == "garage-co@b6" and tight.overrides == "garage-co"
    assert tight.group_key == base.group_key == "garage-co"
    assert tight.priority == base.priority + 1
    assert tight.target.buildings == ["b6"] and tight.target.space_kinds == base.target.space_kinds
    levels = {lv.severity.value: (lv.trigger, lv.clear) for lv in tight.levels}  # type: ignore[attr-defined]
    assert levels == {"warning": (15, 10), "alarm": (35, 30), "emergency": (150, 120)}  # clear moves with it
    assert Rule.model_validate(tight.to_dict()) == tight


def test_the_override_wins_its_building_and_the_base_rule_keeps_the_others() -> None:
    base = rule(GARAGE_CO)
    eng = engine([base, override(base, "b6", {"warning": 15})])
    sigs = feed(eng, [("co-1", "co", 18, T0), ("co-7", "co", 18, T0)])
    assert [(s.rule_id, s.source_id, s.kind) for s in sigs] == [("garage-co@b6", "co-1", SignalKind.FIRING)]
    sigs = feed(eng, [("co-7", "co", 30, T0 + 5000)])
    assert [(s.rule_id, s.source_id) for s in sigs] == [("garage-co", "co-7")]


@pytest.mark.parametrize(
    ("levels", "message"),
    [
        ({"warning": 30}, "warning trigger 30 is outside the bounds [10, 25] the administrator set"),
        ({"alarm": 20}, "alarm trigger 20 is outside the bounds [25, 50]"),
        ({"emergency": 100}, "the administrator set no bounds on the emergency level"),
        ({"critical": 10}, "unknown severity"),
        ({"warning": {"trigger": 12, "clear": 30}}, "the levels would not be valid"),
        ({"warning": {"level": 12}}, "give a number, or a mapping"),
        ({}, "no level to change"),
    ],
)
def test_override_outside_bounds_is_refused_with_a_clear_value_error(
    levels: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValueError, match="override of rule 'garage-co'") as err:
        override(rule(GARAGE_CO), "b6", levels)
    assert message in str(err.value)
    assert isinstance(err.value, RuleOverrideError)


def test_only_threshold_rules_and_their_own_buildings_can_be_overridden() -> None:
    panic = rule({"id": "panic", "type": "panic", "category": "panic"})
    with pytest.raises(ValueError, match="only threshold rules"):
        override(panic, "b6", {"emergency": 1})
    scoped = rule({**GARAGE_CO, "target": {"buildings": ["b7"]}})
    with pytest.raises(ValueError, match="not among the rule's buildings"):
        override(scoped, "b6", {"warning": 15})
