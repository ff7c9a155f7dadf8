"""Relays (disinfection, biodegradation, lights, alarm bell): `set` {on}."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from actuators.drivers.base import Driver, DriverConfig


class RelayConfig(DriverConfig):
    """Relays: at least 10 minutes once started automatically, at most 2 hours at a stretch."""

    type: Literal["relay"] = "relay"
    min_on_s: float = Field(600.0, ge=0, description="Shortest automatic run, seconds")
    max_on_s: float | None = Field(7_200.0, gt=0, description="Longest continuous run, seconds")


class RelayDriver(Driver):
    kind: ClassVar[str] = "relay"
    switches_load: ClassVar[bool] = True
