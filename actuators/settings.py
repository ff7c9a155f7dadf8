"""Settings of the actuator side (`actuators`): drivers, time-to-live, interlocks."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from actuators.drivers import AnyDriverConfig


class ActuatorSettings(BaseModel):
    """Command lifecycle and interlocks; `SAFETWIN_ACTUATORS__<FIELD>`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    drivers: list[AnyDriverConfig] = Field(
        default_factory=list,
        description="Driver settings by `type` (fan, relay, valve, speaker); kinds not listed use defaults",
    )
    command_ttl_s: float = Field(
        120.0, gt=0, description="A command to an online device expires after, seconds"
    )
    offline_ttl_s: float = Field(
        900.0, gt=0, description="A command waits this long for an offline device to come back, seconds"
    )
    tick_interval_s: float = Field(0.5, gt=0, description="How often timeouts and checks run, seconds")
    lel_interlock_pct: float = Field(
        10.0,
        gt=0,
        le=100,
        description="%LEL (lel or ch4) in a space at or above which devices that are not explosion-proof "
        "are not switched",
    )
    evacuation_sources: int = Field(
        2,
        ge=1,
        description="Independent sources of evidence (devices, cameras) an evacuation broadcast needs",
    )
    keep_recent: int = Field(2000, ge=10, description="Finished commands kept in memory for the API")
