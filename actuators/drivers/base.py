"""The one interface of actuator drivers: validate, build the command, know what state means 'done'."""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from actuators.errors import CommandInvalid
from core.contract import COMMAND_PARAMS, Command


class DriverConfig(BaseModel):
    """What every driver's settings have; each driver adds `type: Literal[...]` and its own fields."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: str = Field(description="Driver plugin: the device kind it commands")
    explosion_proof: bool = Field(
        False, description="Devices of this kind are ex-rated (a device's twin meta `explosion_proof` wins)"
    )
    min_on_s: float = Field(0.0, ge=0, description="Automatic stops wait until it ran this long, seconds")
    max_on_s: float | None = Field(
        None, gt=0, description="Stopped after running this long without a break, seconds; unset: no limit"
    )
    ack_timeout_s: float = Field(5.0, gt=0, description="Time for the device's 'delivered', seconds")
    done_timeout_s: float = Field(30.0, gt=0, description="Time from 'delivered' to the outcome, seconds")
    retries: int = Field(2, ge=0, le=10, description="Resends (same correlation id) before 'timed out'")


class Driver:
    """Base of the drivers; a subclass names its kind and says what its states mean."""

    kind: ClassVar[str]
    switches_load: ClassVar[bool] = False  # energising it can ignite a flammable atmosphere

    def __init__(self, config: DriverConfig) -> None:
        self.config = config

    def validate(self, device_id: str, action: str, params: dict[str, Any]) -> dict[str, Any]:
        """The params as the contract's model of (kind, action) has them; CommandInvalid if not."""
        actions = COMMAND_PARAMS[self.kind]
        model = actions.get(action)
        if model is None:
            raise CommandInvalid(
                f"a {self.kind} understands {sorted(actions)}, not {action!r}",
                device_id=device_id,
                field="action",
            )
        try:
            parsed = model.model_validate(params)
        except ValidationError as err:
            first = err.errors(include_url=False)[0]
            where = ".".join(str(p) for p in first["loc"])
            msg = str(first["msg"]).removeprefix("Value error, ")
            raise CommandInvalid(
                f"{self.kind} {action}: {msg}",
                device_id=device_id,
                field=f"params.{where}" if where else "params",
            ) from err
        return parsed.model_dump(exclude_none=True)

    def build(
        self,
        correlation_id: str,
        action: str,
        params: dict[str, Any],
        issued_ts: int,
        expires_ts: int,
        by: str,
    ) -> Command:
        """The contract's Command for this action."""
        return Command(
            correlation_id=correlation_id,
            action=action,
            params=params,
            issued_ts=issued_ts,
            expires_ts=expires_ts,
            issued_by=by,
        )

    def done(self, state: dict[str, Any], action: str, params: dict[str, Any]) -> bool:
        """Whether a reported state shows the command took effect."""
        return all(state.get(k) == v for k, v in params.items())

    def replaces(self, action: str, older_action: str) -> bool:
        """Whether a new command makes an older one to the same device moot (a newer set wins)."""
        return True

    def needs_evidence(self, action: str, params: dict[str, Any]) -> bool:
        """Whether the command needs independent evidence of an emergency (an evacuation broadcast)."""
        return False

    def expected_state(self, action: str, params: dict[str, Any]) -> dict[str, Any]:
        """The state a device is in once it carried the command out (until it reports its own)."""
        return dict(params)

    def active(self, state: dict[str, Any]) -> bool:
        """Whether the state is the 'running' one that minimum and maximum on-time are about."""
        return bool(state.get("on"))

    def activates(self, action: str, params: dict[str, Any]) -> bool:
        """Whether the command puts the device into its active state."""
        return bool(params.get("on"))

    def release(self) -> tuple[str, dict[str, Any]]:
        """The command that ends the active state."""
        return "set", {"on": False}

    def idle(self) -> tuple[str, dict[str, Any]] | None:
        """Where an override ends when the state before it is unknown and no rule wants the device."""
        return self.release()

    def restore(self, state: dict[str, Any]) -> tuple[str, dict[str, Any]] | None:
        """The command that brings the device back to a reported state (None: nothing to do)."""
        if "on" not in state:
            return None
        return "set", {"on": bool(state["on"])}
