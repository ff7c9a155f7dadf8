"""Resolve rule targets against the twin once, and settle which rule of a group owns each source.

Within a group (`Rule.group_key`), one rule evaluates a given source: the one with the highest
`priority`; on a tie the narrowest target (device 4 > space 3 > building 2 > site 1 > kinds only 0);
then the target with the most filters; then the smallest rule id.  So an override made with
`override()` (same group, higher priority, narrower target) takes the building's devices from the
rule it overrides and leaves it every other device.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from rules.kinds.base import Evaluator
from rules.model import Rule, RuleTarget
from rules.source import Source, SourceCatalog
from twin.twin import DevicePlace, Twin


def beats(a: Rule, b: Rule) -> bool:
    """True when rule `a` wins a source over rule `b` of the same group."""
    ra, rb = a.rank(), b.rank()
    return ra > rb or (ra == rb and a.id < b.id)


class TwinIndex:
    """Devices of the twin by kind and by place, to avoid scanning the whole twin for every rule."""

    def __init__(self, twin: Twin) -> None:
        self.twin = twin
        self.by_kind: dict[str, list[DevicePlace]] = {}
        self.by_place: dict[tuple[str, str], list[DevicePlace]] = {}
        for place in twin.devices.values():
            self.by_kind.setdefault(place.kind.value, []).append(place)
            for level, ident in (("space", place.space), ("building", place.building), ("site", place.site)):
                self.by_place.setdefault((level, ident), []).append(place)

    def candidates(self, target: RuleTarget) -> Iterable[DevicePlace]:
        """A superset of the devices the target matches, from the narrowest filter given."""
        if target.devices is not None:
            return [self.twin.devices[d] for d in target.devices if d in self.twin.devices]
        for level, ids in (("space", target.spaces), ("building", target.buildings), ("site", target.sites)):
            if ids is not None:
                return [p for i in ids for p in self.by_place.get((level, i), [])]
        if target.device_kinds is not None:
            return [p for k in target.device_kinds for p in self.by_kind.get(k.value, [])]
        return self.twin.devices.values()

    def matching(self, ev: Evaluator) -> list[DevicePlace]:
        """Devices the evaluator's rule targets and can evaluate."""
        target = ev.rule.target
        return [p for p in self.candidates(target) if target.matches(p, self.twin) and ev.applies_to(p)]


def assign(
    index: TwinIndex, catalog: SourceCatalog, evaluators: Sequence[Evaluator]
) -> dict[str, list[Source]]:
    """Sources each rule evaluates, after group competition; rule id -> sources."""
    owner: dict[tuple[str, str], tuple[Evaluator, Source]] = {}
    for ev in sorted(evaluators, key=lambda e: e.rule.id):
        for src in ev.sources_from(index.matching(ev), catalog):
            key = (ev.rule.group_key, src.id)
            held = owner.get(key)
            if held is None or beats(ev.rule, held[0].rule):
                owner[key] = (ev, src)
    out: dict[str, list[Source]] = {ev.rule.id: [] for ev in evaluators}
    for ev, src in owner.values():
        out[ev.rule.id].append(src)
    return out
