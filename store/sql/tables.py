"""Relational schema of the operational store: alarms, work orders, credit, rule versions, documents.

Enums are stored as their string values (new members need no migration); timestamps are epoch ms in
BIGINT; free-form bodies use the portable JSON type (JSON on PostgreSQL, TEXT on SQLite).
"""

from __future__ import annotations

from typing import Any, ClassVar

from sqlalchemy import JSON, BigInteger, Float, ForeignKey, Index, Integer, MetaData, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

# Named constraints keep migrations identical on both backends (and SQLite batch mode needs names).
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# SQLite only auto-increments an INTEGER PRIMARY KEY; PostgreSQL gets a BIGINT identity.
SerialId = BigInteger().with_variant(Integer(), "sqlite")


class Base(DeclarativeBase):
    """Declarative base carrying the shared metadata."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        int: BigInteger(),
        str: String(),
        float: Float(),
        dict[str, Any]: JSON(),
    }


class AlarmRow(Base):
    """One alarm per (rule, source) at a time; mirrors core.alarms.Alarm."""

    __tablename__ = "alarms"

    id: Mapped[str] = mapped_column(primary_key=True)
    rule_id: Mapped[str]
    rule_version: Mapped[int]
    rule_name: Mapped[str]
    category: Mapped[str]
    source_kind: Mapped[str]
    source_id: Mapped[str]
    site: Mapped[str]
    building: Mapped[str]
    space: Mapped[str]
    state: Mapped[str]
    severity: Mapped[str]
    peak_severity: Mapped[str]
    grade: Mapped[str]
    message: Mapped[str] = mapped_column(Text)
    evidence: Mapped[dict[str, Any]]
    created_ts: Mapped[int]
    updated_ts: Mapped[int]
    active_ts: Mapped[int | None]
    cleared_ts: Mapped[int | None]
    acknowledged_ts: Mapped[int | None]
    acknowledged_by: Mapped[str | None]
    assignee: Mapped[str | None]
    shelved_until_ts: Mapped[int | None]
    shelve_reason: Mapped[str | None] = mapped_column(Text)
    deadline_ts: Mapped[int | None]
    party_id: Mapped[str | None]
    work_order_id: Mapped[str | None]

    __table_args__ = (
        Index("ix_alarms_state_updated_ts", "state", "updated_ts"),
        Index("ix_alarms_site_updated_ts", "site", "updated_ts"),
        Index("ix_alarms_updated_ts", "updated_ts"),
        Index("ix_alarms_rule_id_source_id", "rule_id", "source_id"),
    )


class AlarmEventRow(Base):
    """One line of an alarm's history; mirrors core.alarms.AlarmEvent."""

    __tablename__ = "alarm_events"

    id: Mapped[int] = mapped_column(SerialId, primary_key=True, autoincrement=True)
    alarm_id: Mapped[str] = mapped_column(ForeignKey("alarms.id", ondelete="CASCADE"))
    ts: Mapped[int]
    actor: Mapped[str]
    action: Mapped[str]
    state: Mapped[str]
    severity: Mapped[str]
    note: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (Index("ix_alarm_events_alarm_id_ts", "alarm_id", "ts"),)


class WorkOrderRow(Base):
    """A hazard turned into work for a responsible party; mirrors core.alarms.WorkOrder."""

    __tablename__ = "work_orders"

    id: Mapped[str] = mapped_column(primary_key=True)
    alarm_id: Mapped[str] = mapped_column(ForeignKey("alarms.id", ondelete="CASCADE"))
    title: Mapped[str] = mapped_column(Text)
    category: Mapped[str]
    severity: Mapped[str]
    site: Mapped[str]
    building: Mapped[str]
    space: Mapped[str]
    party_id: Mapped[str | None]
    state: Mapped[str]
    created_ts: Mapped[int]
    deadline_ts: Mapped[int]
    escalation_level: Mapped[int] = mapped_column(Integer)
    escalated_to: Mapped[str | None]
    assignee: Mapped[str | None]
    note: Mapped[str | None] = mapped_column(Text)
    photos: Mapped[list[str]] = mapped_column(JSON)
    closed_ts: Mapped[int | None]
    overdue: Mapped[bool]

    __table_args__ = (
        Index("ix_work_orders_state_created_ts", "state", "created_ts"),
        Index("ix_work_orders_party_id_created_ts", "party_id", "created_ts"),
        Index("ix_work_orders_created_ts", "created_ts"),
        Index("ix_work_orders_alarm_id", "alarm_id"),
    )


class WorkOrderStepRow(Base):
    """One step of a work order's life; mirrors core.alarms.WorkOrderStep."""

    __tablename__ = "work_order_steps"

    id: Mapped[int] = mapped_column(SerialId, primary_key=True, autoincrement=True)
    work_order_id: Mapped[str] = mapped_column(ForeignKey("work_orders.id", ondelete="CASCADE"))
    ts: Mapped[int]
    actor: Mapped[str]
    action: Mapped[str]
    note: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (Index("ix_work_order_steps_work_order_id_ts", "work_order_id", "ts"),)


class CreditEventRow(Base):
    """A change of a party's credit score; mirrors core.alarms.CreditEvent."""

    __tablename__ = "credit_events"

    id: Mapped[int] = mapped_column(SerialId, primary_key=True, autoincrement=True)
    party_id: Mapped[str]
    ts: Mapped[int]
    delta: Mapped[float]
    score_after: Mapped[float]
    reason: Mapped[str] = mapped_column(Text)
    work_order_id: Mapped[str | None]

    __table_args__ = (Index("ix_credit_events_party_id_ts", "party_id", "ts"),)


class RuleVersionRow(Base):
    """Every version of an API-managed rule, with who saved it and when."""

    __tablename__ = "rule_versions"

    rule_id: Mapped[str] = mapped_column(primary_key=True)
    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    body: Mapped[dict[str, Any]]
    actor: Mapped[str]
    ts: Mapped[int]


class DocumentRow(Base):
    """Opaque named state (rule engine timers and windows), replaced whole."""

    __tablename__ = "documents"

    name: Mapped[str] = mapped_column(primary_key=True)
    body: Mapped[dict[str, Any]]
    updated_ts: Mapped[int]


# Each side's tables live in their own module on the same metadata; importing them here makes them
# part of `Base.metadata` for migrations and their consistency test.
import store.sql.tables_accounts  # noqa: E402
import store.sql.tables_actuators  # noqa: E402, F401
