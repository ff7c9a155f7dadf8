"""The alarm vocabulary shared by rules, alarms, the relational store and the API.

Rules emit `AlarmSignal`s; the alarm manager turns them into `Alarm`s with a full `AlarmEvent`
history, graded responses and `WorkOrder`s; parties carry a credit score.  These pydantic models are
at once the in-memory records, the API models and what the relational store persists.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class Severity(StrEnum):
    WARNING = "warning"
    ALARM = "alarm"
    EMERGENCY = "emergency"

    @property
    def rank(self) -> int:
        return _RANK[self]


_RANK = {Severity.WARNING: 1, Severity.ALARM: 2, Severity.EMERGENCY: 3}


class Grade(StrEnum):
    """Graded response: a general hazard gets a broadcast and a deadline; an emergency goes out at once."""

    GENERAL = "general"
    EMERGENCY = "emergency"


class SignalKind(StrEnum):
    PENDING = "pending"  # condition met, on-delay running
    FIRING = "firing"  # condition held long enough: the alarm is active at `severity`
    RESOLVED = "resolved"  # condition cleared (below the clear level for the off-delay)
    NO_DATA = "no_data"  # the rule cannot evaluate: its source is silent
    ERROR = "error"  # the rule failed to evaluate (bad config, model missing)


class SourceKind(StrEnum):
    DEVICE = "device"
    SPACE = "space"
    SITE = "site"


class AlarmSignal(BaseModel):
    """What a rule says about one source at one moment."""

    model_config = ConfigDict(frozen=True)

    rule_id: str = Field(description="Rule that produced it")
    rule_version: int = Field(ge=1, description="Version of the rule at the time")
    rule_name: str = Field(description="Rule name for people")
    category: str = Field(description="gas, exposure, sensor_fault, offline, anomaly, panic, camera, ...")
    kind: SignalKind
    severity: Severity | None = Field(None, description="Level reached; None for resolved / no data")
    source_kind: SourceKind
    source_id: str = Field(description="Device, space or site id the alarm is about")
    site: str = Field(description="Site id")
    building: str = Field("", description="Building id, empty outside buildings")
    space: str = Field("", description="Space id, empty for site-level sources")
    ts: int = Field(description="When the rule decided, epoch ms (reading time for reading-driven rules)")
    message: str = Field(description="One sentence a person understands, with value, unit and threshold")
    evidence: dict[str, Any] = Field(
        default_factory=dict, description="Samples, durations, thresholds, scores that made the decision"
    )


class AlarmState(StrEnum):
    PENDING = "pending"
    ACTIVE = "active"
    CLEARED = "cleared"
    NO_DATA = "no_data"
    ERROR = "error"


class Alarm(BaseModel):
    """One alarm per (rule, source) at a time; severity may rise and fall on it."""

    model_config = ConfigDict(frozen=True)

    id: str = Field(description="Alarm id")
    rule_id: str
    rule_version: int
    rule_name: str
    category: str
    source_kind: SourceKind
    source_id: str
    site: str
    building: str = ""
    space: str = ""
    state: AlarmState
    severity: Severity = Field(description="Current severity")
    peak_severity: Severity = Field(description="Highest severity reached")
    grade: Grade = Field(description="Graded response it gets")
    message: str = Field(description="Latest explanation")
    evidence: dict[str, Any] = Field(default_factory=dict, description="What fired it")
    created_ts: int
    updated_ts: int
    active_ts: int | None = Field(None, description="When it became active")
    cleared_ts: int | None = None
    acknowledged_ts: int | None = None
    acknowledged_by: str | None = None
    assignee: str | None = None
    shelved_until_ts: int | None = Field(None, description="Silenced until then: recorded, not notified")
    shelve_reason: str | None = None
    deadline_ts: int | None = Field(None, description="General hazard: fix by then or a work order is made")
    party_id: str | None = Field(None, description="Responsible party")
    work_order_id: str | None = None


class AlarmEvent(BaseModel):
    """One line of an alarm's history: who did what, when, and why."""

    model_config = ConfigDict(frozen=True)

    alarm_id: str
    ts: int
    actor: str = Field(description="'rule:<id>', 'user:<name>' or 'system'")
    action: str = Field(
        description="raised, pending, active, escalated, deescalated, cleared, no_data, "
        "error, reopened, acknowledged, assigned, commented, shelved, unshelved, suppressed, deadline, "
        "regraded, broadcast, notified, work_order"
    )
    state: AlarmState
    severity: Severity
    note: str | None = None


class WorkOrderState(StrEnum):
    CREATED = "created"
    SIGNED = "signed"  # signed for by the responsible department
    ASSIGNED = "assigned"
    HANDLED = "handled"
    VERIFIED = "verified"
    CLOSED = "closed"


class WorkOrder(BaseModel):
    """A hazard turned into work for a responsible party, with a deadline and escalation."""

    model_config = ConfigDict(frozen=True)

    id: str
    alarm_id: str
    title: str
    category: str
    severity: Severity
    site: str
    building: str = ""
    space: str = ""
    party_id: str | None = Field(None, description="Responsible party (site owner, property company, ...)")
    state: WorkOrderState
    created_ts: int
    deadline_ts: int
    escalation_level: int = Field(
        0, ge=0, description="Escalations so far: 0 none, 1 the first party of the chain (grid worker), ..."
    )
    escalated_to: str | None = Field(None, description="Party the order is escalated to")
    assignee: str | None = None
    note: str | None = Field(None, description="Handling note")
    photos: list[str] = Field(default_factory=list, description="Photo references attached when handled")
    closed_ts: int | None = None
    overdue: bool = Field(False, description="Passed its deadline before closing")


WorkOrderAction = Literal[
    "created",
    "signed",
    "assigned",
    "transferred",
    "handled",
    "verified",
    "rejected",
    "closed",
    "escalated",
    "overdue",
]


class WorkOrderStep(BaseModel):
    model_config = ConfigDict(frozen=True)

    work_order_id: str
    ts: int
    actor: str
    action: WorkOrderAction
    note: str | None = None


class CreditEvent(BaseModel):
    """A change of a party's credit score, with the reason."""

    model_config = ConfigDict(frozen=True)

    party_id: str
    ts: int
    delta: float
    score_after: float
    reason: str
    work_order_id: str | None = None
