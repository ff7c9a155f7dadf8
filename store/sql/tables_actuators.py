"""Tables of the actuator side: commands and the transitions of their lifecycle."""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, Text
from sqlalchemy.orm import Mapped, mapped_column

from store.sql.tables import Base, SerialId


class CommandRow(Base):
    """One command to an actuator and where it stands; mirrors actuators.records.CommandRecord."""

    __tablename__ = "actuator_commands"

    correlation_id: Mapped[str] = mapped_column(primary_key=True)
    device_id: Mapped[str]
    kind: Mapped[str]
    action: Mapped[str]
    params: Mapped[dict[str, Any]]
    state: Mapped[str]
    issued_by: Mapped[str]
    operator: Mapped[str | None]
    reason: Mapped[str | None] = mapped_column(Text)
    rule_id: Mapped[str | None]
    space: Mapped[str]
    created_ts: Mapped[int]
    updated_ts: Mapped[int]
    expires_ts: Mapped[int]
    hold_until_ts: Mapped[int | None]
    override_until_ts: Mapped[int | None]
    attempts: Mapped[int] = mapped_column(Integer)
    detail: Mapped[str | None] = mapped_column(Text)
    verify: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    min_on_s: Mapped[float | None]
    max_on_s: Mapped[float | None]

    __table_args__ = (
        Index("ix_actuator_commands_device_id_created_ts", "device_id", "created_ts"),
        Index("ix_actuator_commands_state_created_ts", "state", "created_ts"),
        Index("ix_actuator_commands_created_ts", "created_ts"),
    )


class CommandTransitionRow(Base):
    """One step of a command's life; mirrors actuators.records.CommandTransition."""

    __tablename__ = "actuator_command_transitions"

    id: Mapped[int] = mapped_column(SerialId, primary_key=True, autoincrement=True)
    correlation_id: Mapped[str] = mapped_column(
        ForeignKey("actuator_commands.correlation_id", ondelete="CASCADE")
    )
    ts: Mapped[int]
    state: Mapped[str]
    actor: Mapped[str]
    note: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (Index("ix_actuator_command_transitions_correlation_id_ts", "correlation_id", "ts"),)
