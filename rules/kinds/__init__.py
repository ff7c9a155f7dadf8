"""Rule kinds as plugins: each module here defines a Rule subclass with `type: Literal[...]`, an
Evaluator, and `PLUGIN = KindPlugin(rule=..., evaluator=...)`.  They are found at import, so adding a
kind is adding one file to this folder.
"""

from __future__ import annotations

import importlib
import pkgutil
import typing
from dataclasses import dataclass
from functools import cache
from typing import Annotated, Any, cast

from pydantic import Field, TypeAdapter

from rules.kinds.base import Evaluator
from rules.model import Rule


@dataclass(frozen=True)
class KindPlugin:
    """A rule kind: its config model and the class that evaluates it."""

    rule: type[Rule]
    evaluator: type[Evaluator]

    @property
    def type(self) -> str:
        return str(self.rule.model_fields["type"].default)


def _discover() -> dict[str, KindPlugin]:
    found: dict[str, KindPlugin] = {}
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if info.name.startswith("_") or info.name == "base":
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        plugin = getattr(module, "PLUGIN", None)
        if not isinstance(plugin, KindPlugin):
            continue
        if plugin.type in found:
            raise RuntimeError(f"rule kind {plugin.type!r} is defined twice (second in {module.__name__})")
        found[plugin.type] = plugin
    return found


PLUGINS: dict[str, KindPlugin] = _discover()
REGISTRY: dict[str, type[Evaluator]] = {name: p.evaluator for name, p in PLUGINS.items()}


@cache
def rule_adapter() -> TypeAdapter[Rule]:
    """Validator of the discriminated union of every rule kind (on the `type` field)."""
    union: Any = typing.Union.__getitem__(tuple(p.rule for p in PLUGINS.values()))
    return cast("TypeAdapter[Rule]", TypeAdapter(Annotated[union, Field(discriminator="type")]))


def rule_json_schema() -> dict[str, Any]:
    """JSON schema of a rule of any kind (for the API)."""
    return rule_adapter().json_schema()
