"""Exhaust and supply fans: `set` {on, speed}; done when the reported state has both."""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import Field

from actuators.drivers.base import Driver, DriverConfig


class FanConfig(DriverConfig):
    """Fans: run on for 5 minutes after an automatic start, at most 4 hours at a stretch."""

    type: Literal["fan"] = "fan"
    min_on_s: float = Field(300.0, ge=0, description="Run-on after an automatic start, seconds")
    max_on_s: float | None = Field(14_400.0, gt=0, description="Longest continuous run, seconds")


class FanDriver(Driver):
    kind: ClassVar[str] = "fan"
    switches_load: ClassVar[bool] = True

    def restore(self, state: dict[str, Any]) -> tuple[str, dict[str, Any]] | None:
        if "on" not in state:
            return None
        params: dict[str, Any] = {"on": bool(state["on"])}
        if state.get("speed") in (1, 2, 3):
            params["speed"] = state["speed"]
        return "set", params
