"""Actuator drivers as plugins: a config model with `type: Literal[...]` and a class, one file each.

Adding a driver is one file here (a `DriverConfig` subclass and a `Driver` subclass) and one line in
`PLUGINS`; its kind must have a vocabulary in `core.contract.COMMAND_PARAMS`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated

from pydantic import Field

from actuators.drivers.base import Driver, DriverConfig
from actuators.drivers.fan import FanConfig, FanDriver
from actuators.drivers.relay import RelayConfig, RelayDriver
from actuators.drivers.speaker import SpeakerConfig, SpeakerDriver
from actuators.drivers.valve import ValveConfig, ValveDriver

AnyDriverConfig = Annotated[
    FanConfig | RelayConfig | ValveConfig | SpeakerConfig, Field(discriminator="type")
]

PLUGINS: dict[str, tuple[type[FanConfig | RelayConfig | ValveConfig | SpeakerConfig], type[Driver]]] = {
    "fan": (FanConfig, FanDriver),
    "relay": (RelayConfig, RelayDriver),
    "valve": (ValveConfig, ValveDriver),
    "speaker": (SpeakerConfig, SpeakerDriver),
}


def build_drivers(configs: Sequence[DriverConfig] = ()) -> dict[str, Driver]:
    """One driver per device kind: the configured settings, else the plugin's defaults."""
    given = {c.type: c for c in configs}
    return {kind: cls(given.get(kind) or conf()) for kind, (conf, cls) in PLUGINS.items()}


__all__ = ["PLUGINS", "AnyDriverConfig", "Driver", "DriverConfig", "build_drivers"]
