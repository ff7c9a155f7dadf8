"""The rules in force: shipped packs plus rules created and edited through the API, every version kept.

An API edit of a pack rule becomes an API-managed version of it (version numbers continue from the
pack's); a delete is a version whose body is {"deleted": true}.  At start the newest stored version of
each rule is laid over the packs.  Changes are saved first, then handed to the engine on the event
loop, so evaluation never sees a rule that is not stored.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from pydantic import ValidationError

from core.contract import now_ms
from rules.engine import RuleEngine
from rules.model import Rule
from rules.override import LevelChange, override

log = logging.getLogger(__name__)


class RuleVersionStore(Protocol):
    """What the catalog needs of the operational store (alarms.ports.OpsStore has it)."""

    def save_rule_version(
        self, rule_id: str, version: int, body: dict[str, Any], actor: str, ts: int
    ) -> None: ...

    def rule_versions(self, rule_id: str) -> list[tuple[int, dict[str, Any], str, int]]: ...

    def latest_rules(self) -> list[dict[str, Any]]: ...


class RuleNotFound(LookupError):
    def __init__(self, rule_id: str) -> None:
        super().__init__(f"no rule with id {rule_id!r}")
        self.rule_id = rule_id


class RuleConflict(ValueError):
    """A create with an id in use, or an edit that changes a rule's id."""


class RuleInvalid(ValueError):
    """A rule body that does not validate; the message names each field and what is wrong."""


def _parse(data: dict[str, Any]) -> Rule:
    try:
        return Rule.from_dict(data)
    except ValidationError as err:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or '(rule)'}: {e['msg']}" for e in err.errors()
        )
        raise RuleInvalid(f"the rule is not valid: {problems}") from err


class RuleCatalog:
    """The rule set of one SafeTwin process."""

    def __init__(self, engine: RuleEngine, store: RuleVersionStore, packs: Sequence[Rule]) -> None:
        self.engine = engine
        self.store = store
        self._pack = {r.id: r for r in packs}
        self._rules: dict[str, Rule] = dict(self._pack)
        self._source: dict[str, str] = dict.fromkeys(self._pack, "pack")
        self._lock = asyncio.Lock()

    def load(self) -> None:
        """Lay the stored versions over the packs and give the result to the engine (blocking read)."""
        for body in self.store.latest_rules():
            rule_id = str(body.get("id", ""))
            if body.get("deleted"):
                self._rules.pop(rule_id, None)
                self._source[rule_id] = "deleted"
                continue
            try:
                self._rules[rule_id] = Rule.from_dict(body)
                self._source[rule_id] = "api"
            except ValidationError as err:
                log.error("stored rule %s is no longer valid and is skipped: %s", rule_id, err)
        self.engine.set_rules(list(self._rules.values()))

    def all(self) -> list[tuple[Rule, str]]:
        """Every rule in force with where it comes from ('pack' or 'api')."""
        return [(r, self._source.get(r.id, "pack")) for r in self._rules.values()]

    def get(self, rule_id: str) -> tuple[Rule, str]:
        rule = self._rules.get(rule_id)
        if rule is None:
            raise RuleNotFound(rule_id)
        return rule, self._source.get(rule_id, "pack")

    async def versions(self, rule_id: str) -> list[dict[str, Any]]:
        """Stored versions, oldest first; a pack rule's shipped version comes first."""
        stored = await asyncio.to_thread(self.store.rule_versions, rule_id)
        out: list[dict[str, Any]] = []
        if rule_id in self._pack:
            out.append(
                {
                    "version": self._pack[rule_id].version,
                    "source": "pack",
                    "actor": "pack",
                    "ts": None,
                    "body": self._pack[rule_id].to_dict(),
                }
            )
        out += [{"version": v, "source": "api", "actor": a, "ts": ts, "body": b} for v, b, a, ts in stored]
        if not out and rule_id not in self._rules:
            raise RuleNotFound(rule_id)
        return out

    async def create(self, body: dict[str, Any], actor: str) -> Rule:
        """A new rule (version 1)."""
        async with self._lock:
            rule_id = str(body.get("id", ""))
            if rule_id in self._rules or self._source.get(rule_id) == "deleted":
                raise RuleConflict(f"rule id {rule_id!r} is taken; edit it with PUT or choose another id")
            rule = _parse({**body, "version": 1})
            await self._save(rule, actor)
            return rule

    async def update(self, rule_id: str, body: dict[str, Any], actor: str) -> Rule:
        """A new version of a rule; the body replaces the old one whole."""
        async with self._lock:
            current, _ = self.get(rule_id)
            if body.get("id", rule_id) != rule_id:
                raise RuleConflict("a rule's id cannot change; create a new rule instead")
            rule = _parse({**body, "id": rule_id, "version": current.version + 1})
            await self._save(rule, actor)
            return rule

    async def delete(self, rule_id: str, actor: str) -> None:
        """Remove a rule from evaluation (its alarms resolve); the versions stay in the store."""
        async with self._lock:
            current, _ = self.get(rule_id)
            body = {"id": rule_id, "deleted": True}
            await asyncio.to_thread(
                self.store.save_rule_version, rule_id, current.version + 1, body, actor, now_ms()
            )
            self._rules.pop(rule_id)
            self._source[rule_id] = "deleted"
            self.engine.set_rules(list(self._rules.values()))

    async def override_for_building(
        self, rule_id: str, building_id: str, levels: Mapping[str, LevelChange], actor: str
    ) -> Rule:
        """A facility manager's tighter levels for one building, within the administrator's bounds."""
        async with self._lock:
            base, _ = self.get(rule_id)
            existing = self._rules.get(f"{rule_id}@{building_id}")
            rule = override(base, building_id, levels, version=existing.version + 1 if existing else 1)
            await self._save(rule, actor)
            return rule

    async def _save(self, rule: Rule, actor: str) -> None:
        body = rule.to_dict()
        await asyncio.to_thread(self.store.save_rule_version, rule.id, rule.version, body, actor, now_ms())
        self._rules[rule.id] = rule
        self._source[rule.id] = "api"
        self.engine.set_rules(list(self._rules.values()))
        log.info("rule %s version %d saved by %s", rule.id, rule.version, actor)
