"""Actuator commands and the transitions of their lifecycle.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-21
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _ts(name: str, nullable: bool = False) -> sa.Column[int]:
    return sa.Column(name, sa.BigInteger(), nullable=nullable)


def _text(name: str, nullable: bool = False, long: bool = False) -> sa.Column[str]:
    return sa.Column(name, sa.Text() if long else sa.String(), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "actuator_commands",
        *(_text(n) for n in ("correlation_id", "device_id", "kind", "action")),
        sa.Column("params", sa.JSON(), nullable=False),
        *(_text(n) for n in ("state", "issued_by")),
        _text("operator", nullable=True),
        _text("reason", nullable=True, long=True),
        _text("rule_id", nullable=True),
        _text("space"),
        *(_ts(n) for n in ("created_ts", "updated_ts", "expires_ts")),
        _ts("hold_until_ts", nullable=True),
        _ts("override_until_ts", nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        _text("detail", nullable=True, long=True),
        sa.Column("verify", sa.JSON(), nullable=True),
        sa.Column("min_on_s", sa.Float(), nullable=True),
        sa.Column("max_on_s", sa.Float(), nullable=True),
        sa.PrimaryKeyConstraint("correlation_id", name=op.f("pk_actuator_commands")),
    )
    op.create_index(
        "ix_actuator_commands_device_id_created_ts", "actuator_commands", ["device_id", "created_ts"]
    )
    op.create_index("ix_actuator_commands_state_created_ts", "actuator_commands", ["state", "created_ts"])
    op.create_index("ix_actuator_commands_created_ts", "actuator_commands", ["created_ts"])
    op.create_table(
        "actuator_command_transitions",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        _text("correlation_id"),
        _ts("ts"),
        *(_text(n) for n in ("state", "actor")),
        _text("note", nullable=True, long=True),
        sa.ForeignKeyConstraint(
            ["correlation_id"],
            ["actuator_commands.correlation_id"],
            name=op.f("fk_actuator_command_transitions_correlation_id_actuator_commands"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_actuator_command_transitions")),
    )
    op.create_index(
        "ix_actuator_command_transitions_correlation_id_ts",
        "actuator_command_transitions",
        ["correlation_id", "ts"],
    )


def downgrade() -> None:
    op.drop_table("actuator_command_transitions")
    op.drop_table("actuator_commands")
