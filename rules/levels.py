"""Severity levels with hysteresis, delays and repeat counts, and the state machine that runs them.

Values are normalised before they reach the machine: x = value for `above`, x = -value for `below`,
so "beyond the trigger" is always x >= trigger and "back on the safe side" always x < clear.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import pairwise
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from core.alarms import Severity

Direction = Literal["above", "below"]

IDLE, PENDING, ACTIVE, CLEARING = 0, 1, 2, 3


class Bounds(BaseModel):
    """The range an administrator lets a facility manager move a level's trigger within."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    min: float | None = Field(None, description="Lowest trigger allowed, in the metric's unit")
    max: float | None = Field(None, description="Highest trigger allowed, in the metric's unit")

    @model_validator(mode="after")
    def _check(self) -> Bounds:
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"bounds min {self.min} is above max {self.max}")
        return self

    def contains(self, value: float) -> bool:
        return (self.min is None or value >= self.min) and (self.max is None or value <= self.max)

    def text(self) -> str:
        lo = "-inf" if self.min is None else f"{self.min:g}"
        hi = "inf" if self.max is None else f"{self.max:g}"
        return f"[{lo}, {hi}]"


class Level(BaseModel):
    """One severity step: enter at `trigger`, leave once back past `clear` (hysteresis)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    severity: Severity = Field(description="warning, alarm or emergency")
    trigger: float = Field(description="Level at which the condition starts, in the metric's unit")
    clear: float | None = Field(
        None, description="Level the value must pass back over to clear; unset: the trigger (no hysteresis)"
    )
    on_delay_s: float = Field(
        0.0, ge=0, le=86_400, description="Condition must hold this long to fire, seconds"
    )
    off_delay_s: float = Field(
        0.0, ge=0, le=86_400, description="Must be clear this long to resolve, seconds"
    )
    repeat: int = Field(1, ge=1, le=1000, description="Consecutive samples beyond the trigger needed to fire")
    bounds: Bounds | None = Field(
        None, description="Where a building override may move the trigger; unset: no override allowed"
    )
    basis: str | None = Field(None, description="Where this figure comes from (clause, conversion, practice)")

    @property
    def clear_level(self) -> float:
        return self.trigger if self.clear is None else self.clear


def check_levels(levels: Sequence[Level], direction: Direction) -> None:
    """Raise ValueError unless the levels form a ladder: one per severity, stricter with severity."""
    sevs = [lv.severity for lv in levels]
    if len(set(sevs)) != len(sevs):
        raise ValueError("each severity may appear once among the levels")
    sign = 1.0 if direction == "above" else -1.0
    word = "above" if direction == "above" else "below"
    for lv in levels:
        if sign * lv.clear_level > sign * lv.trigger:
            raise ValueError(
                f"{lv.severity.value} level: clear {lv.clear_level:g} must not be {word} trigger "
                f"{lv.trigger:g} (direction {direction})"
            )
        if lv.bounds is not None and not lv.bounds.contains(lv.trigger):
            raise ValueError(f"{lv.severity.value} level: trigger {lv.trigger:g} is outside its bounds")
    ordered = sorted(levels, key=lambda lv: lv.severity.rank)
    for low, high in pairwise(ordered):
        if sign * high.trigger <= sign * low.trigger or sign * high.clear_level < sign * low.clear_level:
            raise ValueError(
                f"{high.severity.value} level (trigger {high.trigger:g}) must be further {word} than "
                f"{low.severity.value} level (trigger {low.trigger:g}), and so must its clear level"
            )


class Ladder:
    """Levels of one rule, normalised and ordered by severity; steps the per-source state arrays."""

    __slots__ = ("clear", "levels", "low", "off_ms", "on_ms", "repeat", "sign", "trig")

    def __init__(self, levels: Sequence[Level], direction: Direction) -> None:
        self.levels = sorted(levels, key=lambda lv: lv.severity.rank)
        self.sign = 1.0 if direction == "above" else -1.0
        self.trig = [self.sign * lv.trigger for lv in self.levels]
        self.clear = [self.sign * lv.clear_level for lv in self.levels]
        self.on_ms = [int(lv.on_delay_s * 1000) for lv in self.levels]
        self.off_ms = [int(lv.off_delay_s * 1000) for lv in self.levels]
        self.repeat = [lv.repeat for lv in self.levels]
        self.low = min(self.trig)  # below this (normalised) an idle source stays idle

    def step(
        self, st: list[int], since: list[int], count: list[int], csince: list[int], x: float, ts: int
    ) -> None:
        """Advance every level by one sample x at ts, highest severity first."""
        for k in range(len(self.trig) - 1, -1, -1):
            s = st[k]
            if s == IDLE:
                if x >= self.trig[k]:
                    st[k], since[k], count[k] = PENDING, ts, 1
            elif s == PENDING:
                if x >= self.trig[k]:
                    count[k] += 1
                else:
                    st[k] = IDLE
            elif s == ACTIVE:
                if x < self.clear[k]:
                    st[k], csince[k] = CLEARING, ts
            elif x >= self.clear[k]:  # CLEARING, and back beyond the clear level
                st[k] = ACTIVE
        self.advance(st, since, count, csince, ts)

    def advance(self, st: list[int], since: list[int], count: list[int], csince: list[int], now: int) -> None:
        """Let time pass: complete on-delays and off-delays that have run out by `now`."""
        top = len(st) - 1
        for k in range(top, -1, -1):
            s = st[k]
            if s == PENDING and count[k] >= self.repeat[k] and now - since[k] >= self.on_ms[k]:
                for j in range(k + 1):  # a level reached implies every lower level
                    if st[j] != ACTIVE:
                        if st[j] != CLEARING:
                            since[j] = since[k] if st[j] == IDLE else min(since[j], since[k])
                        st[j] = ACTIVE
                break
        # highest first: a lower level leaves only after every higher one has left
        for k in range(top, -1, -1):
            if (
                st[k] == CLEARING
                and now - csince[k] >= self.off_ms[k]
                and all(st[j] == IDLE for j in range(k + 1, top + 1))
            ):
                st[k] = IDLE

    def top(self, st: list[int], states: tuple[int, ...]) -> int:
        """Index of the highest level whose state is in `states`, or -1."""
        for k in range(len(st) - 1, -1, -1):
            if st[k] in states:
                return k
        return -1
