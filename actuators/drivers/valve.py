"""Gas shut-off valves: `set` {open}; the active (safe) state is shut, and SafeTwin never reopens one."""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import Field

from actuators.drivers.base import Driver, DriverConfig


class ValveConfig(DriverConfig):
    """Valves sit on gas lines and are sold ex-rated; shutting one is never refused for %LEL."""

    type: Literal["valve"] = "valve"
    explosion_proof: bool = Field(True, description="Gas shut-off valves are ex-rated")


class ValveDriver(Driver):
    kind: ClassVar[str] = "valve"

    def active(self, state: dict[str, Any]) -> bool:
        return state.get("open") is False

    def activates(self, action: str, params: dict[str, Any]) -> bool:
        return params.get("open") is False

    def release(self) -> tuple[str, dict[str, Any]]:
        return "set", {"open": True}

    def idle(self) -> tuple[str, dict[str, Any]] | None:
        return None  # never open a gas valve on a guess

    def restore(self, state: dict[str, Any]) -> tuple[str, dict[str, Any]] | None:
        return ("set", {"open": bool(state["open"])}) if "open" in state else None
