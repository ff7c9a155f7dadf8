"""Closed-loop verification: after a remedy is confirmed, the gas in its space must fall in time.

Fed with every reading batch of the rules pipeline; keeps the last value per sensor only for the
spaces that hold actuators, so the cost per reading is one set lookup elsewhere.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from actuators.records import VerifySpec
from core.records import ReadingBatch

FLAMMABLE = ("lel", "ch4")


@dataclass(slots=True)
class Expectation:
    """A remedy's promise: `metric` in `space` falls to `target` by `deadline_ts`."""

    correlation_id: str
    device_id: str
    space: str
    spec: VerifySpec
    baseline: float
    target: float
    started_ts: int
    deadline_ts: int
    samples: dict[str, list[float]] = field(default_factory=dict)  # sensor -> values seen meanwhile
    lowest: float | None = None

    def stuck_sensor(self) -> str | None:
        """A sensor that reported one unchanging value through the whole window (it may be stuck)."""
        for sensor, values in self.samples.items():
            if len(values) >= 3 and max(values) - min(values) < 1e-9:
                return sensor
        return None


class Verifier:
    """Latest levels per space and the open expectations."""

    def __init__(self, spaces: Iterable[str]) -> None:
        self.spaces = set(spaces)
        self.levels: dict[tuple[str, str], dict[str, float]] = {}
        self.open: dict[str, Expectation] = {}

    def level(self, space: str, metric: str) -> float | None:
        """The highest last value of `metric` over the space's sensors."""
        values = self.levels.get((space, metric))
        return max(values.values()) if values else None

    def lel(self, space: str) -> float | None:
        """Highest flammable-gas level of the space, %LEL."""
        found = [v for m in FLAMMABLE if (v := self.level(space, m)) is not None]
        return max(found) if found else None

    def on_readings(self, batch: ReadingBatch) -> list[Expectation]:
        """Take a batch in; return the expectations it met (removed from the open ones)."""
        spaces, watched = batch.space, self.spaces
        touched: set[tuple[str, str]] = set()
        for i, space in enumerate(spaces):
            if space not in watched:
                continue
            key = (space, batch.metric[i])
            self.levels.setdefault(key, {})[batch.device_id[i]] = batch.value[i]
            touched.add(key)
        if not touched or not self.open:
            return []
        met: list[Expectation] = []
        for exp in list(self.open.values()):
            key = (exp.space, exp.spec.metric)
            if key not in touched:
                continue
            self._sample(exp, batch)
            now = self.level(*key)
            if now is not None and now <= exp.target:
                met.append(self.open.pop(exp.correlation_id))
        return met

    @staticmethod
    def _sample(exp: Expectation, batch: ReadingBatch) -> None:
        for i, space in enumerate(batch.space):
            if space == exp.space and batch.metric[i] == exp.spec.metric:
                value = batch.value[i]
                exp.samples.setdefault(batch.device_id[i], []).append(value)
                exp.lowest = value if exp.lowest is None else min(exp.lowest, value)

    def expect(
        self, correlation_id: str, device_id: str, space: str, spec: VerifySpec, now: int
    ) -> Expectation | None:
        """Start watching a remedy; None when the space has no reading of the metric to compare with."""
        baseline = self.level(space, spec.metric)
        if baseline is None:
            return None
        exp = Expectation(
            correlation_id=correlation_id,
            device_id=device_id,
            space=space,
            spec=spec,
            baseline=baseline,
            target=spec.target(baseline),
            started_ts=now,
            deadline_ts=now + int(spec.within_s * 1000),
        )
        self.open[correlation_id] = exp
        return exp

    def overdue(self, now: int) -> list[Expectation]:
        """Expectations whose time ran out; removed from the open ones."""
        late = [e for e in self.open.values() if e.deadline_ts <= now]
        for exp in late:
            del self.open[exp.correlation_id]
        return late

    def cancel(self, correlation_id: str) -> None:
        self.open.pop(correlation_id, None)
