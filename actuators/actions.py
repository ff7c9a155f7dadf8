"""Rule actions: while a rule's alarm is raised the actuators of its space run; when it clears they stop.

Edge-triggered per (rule, source, action): a repeated signal does not actuate again.  A device wanted
by several alarms keeps running until the last of them clears; stops go through the manager, which
holds them for the minimum on-time.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

from actuators.errors import ActuatorError, CommandRefused
from actuators.manager import CommandManager, Wanted
from core.alarms import AlarmSignal, SignalKind
from rules.model import Rule, RuleAction
from twin.twin import Twin

log = logging.getLogger(__name__)

Key = tuple[str, str, int]  # rule id, source id, index of the action


class ActionRunner:
    """Turns rule signals into commands and back."""

    def __init__(self, twin: Twin, manager: CommandManager, rule_of: Callable[[str], Rule | None]) -> None:
        self.twin, self.manager, self.rule_of = twin, manager, rule_of
        self._targets: dict[tuple[str | None, str, str, str | None], list[str]] = {}
        self._on: dict[Key, tuple[RuleAction, list[str], str]] = {}  # -> action, devices, space
        self._demand: dict[str, dict[Key, Wanted]] = {}

    def on_signals(self, signals: Sequence[AlarmSignal], now: int) -> None:
        """Start or stop the actions of the rules these signals come from."""
        for sig in signals:
            if sig.kind in (SignalKind.PENDING, SignalKind.NO_DATA, SignalKind.ERROR):
                continue
            rule = self.rule_of(sig.rule_id)
            if rule is None or not rule.actions:
                continue
            for index, action in enumerate(rule.actions):
                key = (sig.rule_id, sig.source_id, index)
                wanted = sig.kind is SignalKind.FIRING and sig.severity is not None
                wanted = wanted and sig.severity is not None and sig.severity.rank >= action.min_severity.rank
                if wanted and key not in self._on:
                    self._start(key, sig, action, now)
                elif not wanted and key in self._on:
                    self._stop(key, now)

    def needs_evidence(self, sig: AlarmSignal) -> bool:
        """Whether an action of the signal's rule needs evidence of other alarms (an evacuation
        broadcast): such actions must run after the alarm manager has recorded the signal."""
        rule = self.rule_of(sig.rule_id)
        drivers = self.manager.drivers
        return rule is not None and any(
            a.device_kind in drivers and drivers[a.device_kind].needs_evidence(a.action, a.params)
            for a in rule.actions
        )

    def wanted(self, device_id: str) -> Wanted | None:
        """What the rule actions want of a device now (the latest action that asked), or None."""
        demand = self._demand.get(device_id)
        return list(demand.values())[-1] if demand else None

    def targets(self, sig: AlarmSignal, action: RuleAction) -> list[str]:
        """The devices an action drives for a signal: of its kind (and `drives`) in the space or site.

        The twin does not change while SafeTwin runs, so each answer is looked up once.
        """
        in_space = action.scope == "space" and bool(sig.space)
        key = (sig.space if in_space else None, sig.site, action.device_kind, action.drives)
        found = self._targets.get(key)
        if found is None:
            twin = self.twin
            places = twin.devices_in(space=sig.space) if in_space else twin.devices_in(site=sig.site)
            found = self._targets[key] = [
                p.device_id
                for p in places
                if p.kind.value == action.device_kind
                and (action.drives is None or p.spec.meta.get("drives") == action.drives)
            ]
        return list(found)

    def _start(self, key: Key, sig: AlarmSignal, action: RuleAction, now: int) -> None:
        devices = self.targets(sig, action)
        if not devices:
            log.info(
                "rule %s wants a %s in %s, but there is none", sig.rule_id, action.device_kind, sig.space
            )
        self._on[key] = (action, devices, sig.space)
        for dev in devices:
            self._demand.setdefault(dev, {})[key] = (action.action, action.params)
            self._submit(dev, action.action, action.params, sig.rule_id, sig.message, action, now)

    def _stop(self, key: Key, now: int) -> None:
        action, devices, space = self._on.pop(key)
        rule_id = key[0]
        for dev in devices:
            demand = self._demand.get(dev, {})
            had = demand.pop(key, None)
            if demand:
                act, params = list(demand.values())[-1]
                if (act, params) != had:
                    self._submit(dev, act, params, rule_id, "another alarm still wants it", None, now)
            elif action.stop_params is not None:
                self._submit(
                    dev,
                    action.stop_action or action.action,
                    action.stop_params,
                    rule_id,
                    "alarm cleared",
                    None,
                    now,
                )
        if space and not any(sp == space for _, _, sp in self._on.values()):
            with self.manager._lock:
                self.manager.supervisor.end_remedies(space, now)

    def _submit(
        self,
        device: str,
        act: str,
        params: dict[str, object],
        rule_id: str,
        reason: str,
        action: RuleAction | None,
        now: int,
    ) -> None:
        try:
            self.manager.submit(
                device,
                act,
                dict(params),
                issued_by=f"rule:{rule_id}",
                reason=reason,
                rule_id=rule_id,
                verify=action.verify if action is not None else None,
                min_on_s=action.min_on_s if action is not None else None,
                max_on_s=action.max_on_s if action is not None else None,
                now=now,
            )
        except CommandRefused as err:
            log.warning("rule %s: %s", rule_id, err)
        except ActuatorError as err:
            log.error("rule %s cannot command %s: %s", rule_id, device, err)
