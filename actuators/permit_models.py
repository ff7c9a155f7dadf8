"""Confined-space entry permits as records: the request, the permit, its gas tests, breach and entry log."""

from __future__ import annotations

from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator


class PermitStatus(StrEnum):
    GRANTED = "granted"  # open: people may enter
    REFUSED = "refused"  # the space was not fit to enter; the reasons say why
    REVOKED = "revoked"  # stop-work ordered; people get out, nobody enters
    CLOSED = "closed"  # everyone out, work over


Name = str


class PermitRequest(BaseModel):
    """A request to enter a confined space."""

    model_config = ConfigDict(extra="forbid")

    space_id: str = Field(min_length=1, description="The confined space (septic tank, sewer well, ...)")
    entrants: list[Name] = Field(min_length=1, max_length=50, description="People who will go in, by name")
    supervisor: str = Field(min_length=1, max_length=100, description="Person who watches from outside")
    reason: str = Field(min_length=1, max_length=1000, description="The work to be done")

    @field_validator("entrants")
    @classmethod
    def _names(cls, value: list[str]) -> list[str]:
        names = [v.strip() for v in value]
        if any(not n or len(n) > 100 for n in names):
            raise ValueError("each entrant needs a name of 1 to 100 characters")
        if len(set(names)) != len(names):
            raise ValueError("an entrant is listed twice")
        return names


class EntryIn(BaseModel):
    """Someone going into or coming out of the space."""

    model_config = ConfigDict(extra="forbid")

    person: str = Field(min_length=1, max_length=100, description="An entrant of the permit")
    direction: Literal["in", "out"] = Field(description="in: entering, out: leaving")


class GasReading(BaseModel):
    """A gas value a decision was taken on."""

    model_config = ConfigDict(frozen=True)

    device_id: str
    metric: str = Field(description="o2, lel, ch4, h2s or co")
    value: float
    unit: str
    ts: int = Field(description="Measurement time, epoch ms")


class Breach(BaseModel):
    """What revoked a permit."""

    model_config = ConfigDict(frozen=True)

    reason: str = Field(description="What was wrong, in words")
    reading: GasReading | None = Field(None, description="The reading that breached a limit, if one did")
    ts: int = Field(description="When SafeTwin saw it, epoch ms")


class EntryRecord(BaseModel):
    """One logged entry or exit."""

    model_config = ConfigDict(frozen=True)

    person: str
    direction: Literal["in", "out"]
    ts: int = Field(description="Epoch ms")
    operator: str = Field(description="Who logged it")


class Permit(BaseModel):
    """A confined-space entry permit and everything that happened to it."""

    id: str
    space_id: str
    space_name: str
    site: str
    status: PermitStatus
    entrants: list[str]
    supervisor: str
    reason: str
    requested_by: str = Field(description="Operator who asked for it")
    requested_ts: int = Field(description="Epoch ms")
    refusals: list[str] = Field(default_factory=list, description="Why it was refused (status refused)")
    granted_ts: int | None = None
    ventilation_since_ts: int | None = Field(None, description="Fans confirmed running since, epoch ms")
    readings: list[GasReading] = Field(default_factory=list, description="Gas values at the decision")
    revoked_ts: int | None = None
    breach: Breach | None = Field(None, description="What ordered stop-work")
    stop_work: str | None = Field(None, description="What was broadcast and notified at stop-work")
    closed_ts: int | None = None
    closed_by: str | None = None
    entries: list[EntryRecord] = Field(default_factory=list, description="Entries and exits, oldest first")
    inside: list[str] = Field(default_factory=list, description="People inside now")

    @property
    def open(self) -> bool:
        """Granted or revoked: the space may still have people in it."""
        return self.status in (PermitStatus.GRANTED, PermitStatus.REVOKED)


class PermitError(Exception):
    """A permit operation that cannot be done; the message says why and what to do."""


class PermitNotFound(PermitError):
    pass


class PermitConflict(PermitError):
    """Not in this permit's state (entry on a revoked permit, closing with people inside)."""


class PermitInvalid(PermitError):
    """The request names something that is not there or not a confined space."""


class PermitRefused(PermitError):
    """The space is not fit to enter; `permit` is the recorded refusal."""

    def __init__(self, permit: Permit) -> None:
        super().__init__(f"entry to {permit.space_name} refused: " + "; ".join(permit.refusals))
        self.permit = permit
