"""Rules as data: the fields every rule has, its target, its citation, and (de)serialisation.

Each rule kind (rules/kinds/*.py) subclasses `Rule` with `type: Literal[...]` and its own fields;
`Rule.model_validate(data)` dispatches on `type` through the discriminated union of every kind, so a
rule read from a pack, the API or the database comes back as its kind's class.
"""

from __future__ import annotations

from typing import Any, Literal, Self, cast

from pydantic import BaseModel, ConfigDict, Field, ModelWrapValidatorHandler, model_validator

from core.alarms import Severity
from core.contract import COMMAND_PARAMS, DeviceId
from twin.kinds import DeviceKind, SpaceKind
from twin.twin import DevicePlace, Twin

RuleId = DeviceId  # the same rule as twin ids: no '/', '+', '#' or whitespace, up to 128 characters


class _Config(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Citation(_Config):
    """Where a rule's figures come from: a standard and its clause, or documented practice."""

    standard: str = Field(min_length=1, description="Standard or source, e.g. 'GBZ 2.1-2019'")
    clause: str = Field(min_length=1, description="Clause, table or section, e.g. '4.1, Table 1'")
    title: str | None = Field(None, description="Title of the standard")
    kind: Literal["standard", "regulation", "practice"] = Field(
        "standard",
        description="'standard' (GB, GBZ, JGJ...), 'regulation' (a ministry's rules), or 'practice' "
        "(industry, vendor or reference-deployment practice, not a normative figure)",
    )
    note: str | None = Field(None, description="Unit conversion, interpretation, and what is not verified")


# Narrowest filter given decides a target's specificity tier (higher is narrower).
_TIERS = (("devices", 4), ("spaces", 3), ("buildings", 2), ("sites", 1))


class RuleTarget(_Config):
    """Which devices a rule applies to; every filter given must match (an empty target matches all)."""

    device_kinds: list[DeviceKind] | None = Field(
        None, description="Device kinds, e.g. [co_sensor, multi_gas]"
    )
    space_kinds: list[SpaceKind] | None = Field(None, description="Kinds of the device's space")
    confined: bool | None = Field(
        None, description="Only devices in (true) or outside (false) confined spaces"
    )
    sites: list[str] | None = Field(None, description="Site ids")
    buildings: list[str] | None = Field(None, description="Building ids")
    spaces: list[str] | None = Field(None, description="Space ids")
    devices: list[str] | None = Field(None, description="Device ids")

    def matches(self, place: DevicePlace, twin: Twin) -> bool:
        """True when the device satisfies every filter given."""
        if self.device_kinds is not None and place.kind not in self.device_kinds:
            return False
        if self.space_kinds is not None and place.space_kind not in self.space_kinds:
            return False
        if self.confined is not None and twin.spaces[place.space].confined != self.confined:
            return False
        checks = (
            (self.devices, place.device_id),
            (self.spaces, place.space),
            (self.buildings, place.building),
            (self.sites, place.site),
        )
        return all(allowed is None or value in allowed for allowed, value in checks)

    def specificity(self) -> int:
        """4 device, 3 space, 2 building, 1 site, 0 kinds only: the narrowest place filter given."""
        return next((tier for name, tier in _TIERS if getattr(self, name) is not None), 0)

    def filter_count(self) -> int:
        """How many filters are given (the second tie-breaker of specificity)."""
        return sum(1 for name in type(self).model_fields if getattr(self, name) is not None)


class ActionVerify(_Config):
    """Closed-loop check of a remedy: `metric` in the space falls by `fall_by` within `within_s`."""

    metric: str = Field(min_length=1, description="Metric expected to fall, e.g. 'co'")
    fall_by: float = Field(gt=0, description="How far: a fraction of the level (0..1) or an absolute amount")
    mode: Literal["fraction", "absolute"] = Field("fraction", description="How `fall_by` is read")
    within_s: float = Field(gt=0, description="Time allowed after the remedy is confirmed, seconds")

    def target(self, baseline: float) -> float:
        """The level that counts as fallen enough from `baseline`."""
        if self.mode == "fraction":
            return baseline * (1.0 - min(self.fall_by, 1.0))
        return baseline - self.fall_by


class RuleAction(_Config):
    """What the actuators of the alarm's space do while the rule's alarm is raised, and when it clears."""

    device_kind: Literal["fan", "relay", "valve", "speaker"] = Field(description="Actuators to drive")
    drives: str | None = Field(
        None, description="Only devices whose twin meta `drives` is this, e.g. 'disinfection'"
    )
    action: str = Field("set", description="Contract action (core.contract.COMMAND_PARAMS)")
    params: dict[str, Any] = Field(description="Contract params, e.g. {on: true, speed: 2}")
    stop_params: dict[str, Any] | None = Field(
        None, description="Params sent when the alarm clears (after minimum on-time); unset: left as is"
    )
    stop_action: str | None = Field(None, description="Action of the stop command; unset: `action`")
    min_severity: Severity = Field(Severity.WARNING, description="Run from this severity up")
    scope: Literal["space", "site"] = Field("space", description="Devices of the alarm's space or its site")
    verify: ActionVerify | None = Field(None, description="Expect the air to get better, or raise an alarm")
    min_on_s: float | None = Field(
        None, ge=0, description="Minimum on-time of this action, seconds; unset: the driver's"
    )
    max_on_s: float | None = Field(
        None, gt=0, description="Maximum on-time of this action, seconds; unset: the driver's"
    )

    @model_validator(mode="after")
    def _speaks_the_contract(self) -> RuleAction:
        actions = COMMAND_PARAMS[self.device_kind]
        steps = [(self.action, self.params)]
        if self.stop_params is not None:
            steps.append((self.stop_action or self.action, self.stop_params))
        for action, params in steps:
            if action not in actions:
                raise ValueError(f"a {self.device_kind} understands {sorted(actions)}, not {action!r}")
            actions[action].model_validate(params)
        return self


class Rule(_Config):
    """What every rule has.  Validate with `Rule.model_validate(data)`: it returns the kind's class."""

    id: RuleId = Field(description="Stable id; overrides are '<base id>@<building id>'")
    version: int = Field(1, ge=1, description="Bumped on every edit; state is kept while (id, version) holds")
    name: str = Field(min_length=1, max_length=200, description="Name shown to people")
    name_zh: str | None = Field(
        None, max_length=200, description="Chinese name, said in Chinese broadcasts and notices"
    )
    description: str = Field("", max_length=4000, description="What the rule watches and why")
    enabled: bool = Field(True, description="Disabled rules are loaded but not evaluated")
    category: str = Field(
        min_length=1,
        max_length=40,
        description="gas, oxygen, exposure, fire, offline, sensor_fault, maintenance, anomaly, panic, camera",
    )
    target: RuleTarget = Field(default_factory=RuleTarget, description="Devices the rule applies to")
    citation: Citation = Field(description="Standard and clause (or practice) behind the rule's figures")
    type: str = Field(description="Rule kind: threshold, rate_of_rise, exposure, combined, ...")
    group: str | None = Field(
        None,
        description="Rules of one group compete for a source and only the winner evaluates it "
        "(highest priority, then narrowest target, then most filters, then smallest id); "
        "unset: the rule's id, i.e. no competition",
    )
    priority: int = Field(0, ge=-1000, le=1000, description="Higher wins within a group")
    overrides: str | None = Field(None, description="Id of the rule this one overrides (set by override())")
    pack: str | None = Field(None, description="Pack the rule was shipped in; None for rules made in the API")
    actions: list[RuleAction] = Field(
        default_factory=list,
        description="Actuator actions while the rule's alarm is raised (docs/actuators.md)",
    )

    @model_validator(mode="wrap")
    @classmethod
    def _dispatch(cls, data: Any, handler: ModelWrapValidatorHandler[Self]) -> Self:
        if cls is Rule and isinstance(data, dict):
            from rules.kinds import rule_adapter  # the union of kinds; imported late, kinds import us

            return cast(Self, rule_adapter().validate_python(data))
        return handler(data)

    @property
    def group_key(self) -> str:
        return self.group or self.id

    def rank(self) -> tuple[int, int, int]:
        """Sort key within a group, larger wins; the rule id breaks a remaining tie (smaller wins)."""
        return (self.priority, self.target.specificity(), self.target.filter_count())

    def to_dict(self) -> dict[str, Any]:
        """JSON-able dict with every field of the rule's kind; `Rule.model_validate` reads it back."""
        return self.model_dump(mode="json")

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Rule:
        """The rule of the kind named by data['type']."""
        return Rule.model_validate(data)
