"""Command records: the stored, API-visible life of every command, and each actuator's view."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from rules.model import ActionVerify

VerifySpec = ActionVerify  # the closed-loop check a command carries, as rule actions write it


class CommandState(StrEnum):
    QUEUED = "queued"  # waiting: device offline, or held for minimum on-time
    SENT = "sent"
    DELIVERED = "delivered"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    REJECTED = "rejected"
    TIMED_OUT = "timed_out"
    EXPIRED = "expired"
    REFUSED = "refused"  # an interlock or a manual override said no; never sent
    SUPERSEDED = "superseded"  # a newer command to the same device replaced it before its outcome
    EFFECT_VERIFIED = "effect_verified"
    EFFECT_NOT_SEEN = "effect_not_seen"


IN_FLIGHT = frozenset({CommandState.QUEUED, CommandState.SENT, CommandState.DELIVERED})
DEVICE_FAILED = frozenset({CommandState.FAILED, CommandState.REJECTED, CommandState.TIMED_OUT})


class CommandRecord(BaseModel):
    """One command and where it stands; the same model is stored and returned by the API."""

    model_config = ConfigDict(frozen=True)

    correlation_id: str = Field(description="Echoed by the device in every ack; also the record's id")
    device_id: str = Field(description="Actuator the command is for")
    kind: str = Field(description="Device kind: fan, speaker, relay, valve")
    action: str = Field(description="Contract action, e.g. 'set', 'play'")
    params: dict[str, Any] = Field(description="Contract params, e.g. {'on': true, 'speed': 2}")
    state: CommandState = Field(description="Where the command stands now")
    issued_by: str = Field(description="'rule:<id>', 'user:<name>' or 'system:<why>'")
    operator: str | None = Field(None, description="Person who gave a manual command")
    reason: str | None = Field(None, description="Why it was given (manual) or what fired it (rule)")
    rule_id: str | None = Field(None, description="Rule whose action it carries out")
    space: str = Field("", description="Space of the device")
    created_ts: int = Field(description="When it was asked for, epoch ms")
    updated_ts: int = Field(description="Last transition, epoch ms")
    expires_ts: int = Field(description="The device must not act after this time, epoch ms")
    hold_until_ts: int | None = Field(None, description="Held (minimum on-time) until then, epoch ms")
    override_until_ts: int | None = Field(
        None, description="Manual override: automatic control resumes at this time, epoch ms"
    )
    attempts: int = Field(0, description="Times it was published (retries keep the correlation id)")
    detail: str | None = Field(None, description="Why it failed, was refused, or what the check found")
    verify: VerifySpec | None = Field(None, description="Closed-loop check after success")
    min_on_s: float | None = Field(
        None, description="Minimum on-time of this run, seconds (else the driver's)"
    )
    max_on_s: float | None = Field(
        None, description="Maximum on-time of this run, seconds (else the driver's)"
    )


class CommandTransition(BaseModel):
    """One step of a command's life."""

    model_config = ConfigDict(frozen=True)

    correlation_id: str
    ts: int = Field(description="When, epoch ms")
    state: CommandState
    actor: str = Field(description="'system', 'device', 'rule:<id>' or 'user:<name>'")
    note: str | None = None


class CommandDetail(CommandRecord):
    """A command with every transition, oldest first."""

    transitions: list[CommandTransition] = Field(description="The command's life, oldest first")


class ActuatorView(BaseModel):
    """An actuator as an operator sees it: reported state, override in force, suspect flag."""

    model_config = ConfigDict(frozen=True)

    device_id: str
    kind: str
    space: str
    online: bool = Field(description="Last availability message said online (or none was seen)")
    state: dict[str, Any] = Field(description="Last reported state (retained `state` topic)")
    state_ts: int | None = Field(None, description="When the state was reported, epoch ms")
    active_since_ts: int | None = Field(None, description="Running (fan on, valve shut...) since, epoch ms")
    explosion_proof: bool
    override_until_ts: int | None = Field(None, description="Manual override in force until, epoch ms")
    override_by: str | None = Field(None, description="Operator of the override")
    automatic: dict[str, Any] | None = Field(None, description="What rule actions want of it now")
    suspect: str | None = Field(None, description="Why the actuator is suspect (its remedy did not work)")
    last_command: str | None = Field(None, description="Correlation id of its latest command")
