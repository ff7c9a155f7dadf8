"""Building overrides: a facility manager tightens a threshold for their own building, within the
bounds an administrator set on each level.

The override is a new rule `<base id>@<building id>` in the base rule's group, with a priority one
higher and the target narrowed to the building, so it wins that building's devices (see
rules/targets.py) and the base rule keeps every other device.
"""

from __future__ import annotations

from collections.abc import Mapping

from pydantic import ValidationError

from core.alarms import Severity
from rules.errors import RuleOverrideError
from rules.kinds.threshold import ThresholdRule
from rules.levels import Level
from rules.model import Rule

LevelChange = float | Mapping[str, float]


def _new_level(rule: Rule, lv: Level, change: LevelChange) -> Level:
    if isinstance(change, Mapping):
        unknown = set(change) - {"trigger", "clear"}
        if unknown or "trigger" not in change:
            raise RuleOverrideError(
                f"{lv.severity.value} level: give a number, or a mapping with 'trigger' "
                "and optionally 'clear'",
                rule_id=rule.id,
                field=f"levels.{lv.severity.value}",
            )
        trigger, clear = float(change["trigger"]), change.get("clear")
    else:
        trigger, clear = float(change), None
    where = f"levels.{lv.severity.value}.trigger"
    if lv.bounds is None:
        raise RuleOverrideError(
            f"the administrator set no bounds on the {lv.severity.value} level, so it cannot be overridden",
            rule_id=rule.id,
            field=where,
        )
    if not lv.bounds.contains(trigger):
        raise RuleOverrideError(
            f"{lv.severity.value} trigger {trigger:g} is outside the bounds {lv.bounds.text()} "
            "the administrator set",
            rule_id=rule.id,
            field=where,
        )
    if clear is None:  # keep the hysteresis band of the base level
        clear = trigger - (lv.trigger - lv.clear_level)
    return lv.model_copy(update={"trigger": trigger, "clear": float(clear)})


def _changes(
    rule: Rule, building_id: str, levels: Mapping[Severity | str, LevelChange]
) -> tuple[ThresholdRule, dict[Severity, LevelChange]]:
    """The rule and the requested changes by severity, once checked that they can be applied."""
    if not isinstance(rule, ThresholdRule):
        raise RuleOverrideError(
            f"only threshold rules can be overridden, this one is {rule.type}", rule_id=rule.id
        )
    if not levels:
        raise RuleOverrideError("no level to change was given", rule_id=rule.id, field="levels")
    if rule.target.buildings is not None and building_id not in rule.target.buildings:
        raise RuleOverrideError(
            f"building {building_id!r} is not among the rule's buildings", rule_id=rule.id
        )
    try:
        changes = {Severity(k): v for k, v in levels.items()}
    except ValueError as err:
        raise RuleOverrideError(
            f"unknown severity in {sorted(map(str, levels))}: {err}", rule_id=rule.id
        ) from err
    present = {lv.severity for lv in rule.levels}
    for sev in changes:
        if sev not in present:
            raise RuleOverrideError(
                f"the rule has no {sev.value} level", rule_id=rule.id, field=f"levels.{sev.value}"
            )
    return rule, changes


def override(
    rule: Rule, building_id: str, levels: Mapping[Severity | str, LevelChange], *, version: int = 1
) -> Rule:
    """A threshold rule for one building with some levels moved, each within its bounds.

    `levels` maps a severity to its new trigger (the clear level moves with it) or to
    {"trigger": .., "clear": ..}.  Raises RuleOverrideError (a ValueError) naming the level and the
    bounds when the change is not allowed.
    """
    base, changes = _changes(rule, building_id, levels)
    new_levels = [
        _new_level(base, lv, changes[lv.severity]) if lv.severity in changes else lv for lv in base.levels
    ]
    data = rule.to_dict()
    data.update(
        id=f"{rule.id}@{building_id}",
        version=version,
        name=f"{rule.name} ({building_id})",
        group=rule.group_key,
        priority=rule.priority + 1,
        overrides=rule.id,
        pack=None,
        levels=[lv.model_dump(mode="json") for lv in new_levels],
        target={**rule.target.model_dump(mode="json"), "buildings": [building_id]},
    )
    try:
        return Rule.model_validate(data)
    except ValidationError as err:
        first = err.errors(include_url=False)[0]
        raise RuleOverrideError(
            f"the levels would not be valid: {first['msg']}", rule_id=rule.id, field="levels"
        ) from err
