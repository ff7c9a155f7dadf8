"""Initial schema: alarms and their events, work orders and their steps, credit, rule versions, documents.

Revision ID: 0001
Revises:
Create Date: 2026-11-21
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _serial_id() -> sa.Column[int]:
    """Auto-increment id: INTEGER PRIMARY KEY on SQLite (the rowid), BIGINT elsewhere."""
    return sa.Column(
        "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
    )


def _ts(name: str, nullable: bool = False) -> sa.Column[int]:
    return sa.Column(name, sa.BigInteger(), nullable=nullable)


def _text(name: str, nullable: bool = False, long: bool = False) -> sa.Column[str]:
    return sa.Column(name, sa.Text() if long else sa.String(), nullable=nullable)


def _alarms() -> None:
    op.create_table(
        "alarms",
        _text("id"),
        _text("rule_id"),
        sa.Column("rule_version", sa.BigInteger(), nullable=False),
        *(_text(n) for n in ("rule_name", "category", "source_kind", "source_id", "site", "building")),
        *(_text(n) for n in ("space", "state", "severity", "peak_severity", "grade")),
        _text("message", long=True),
        sa.Column("evidence", sa.JSON(), nullable=False),
        _ts("created_ts"),
        _ts("updated_ts"),
        _ts("active_ts", nullable=True),
        _ts("cleared_ts", nullable=True),
        _ts("acknowledged_ts", nullable=True),
        _text("acknowledged_by", nullable=True),
        _text("assignee", nullable=True),
        _ts("shelved_until_ts", nullable=True),
        _text("shelve_reason", nullable=True, long=True),
        _ts("deadline_ts", nullable=True),
        _text("party_id", nullable=True),
        _text("work_order_id", nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alarms")),
    )
    op.create_index("ix_alarms_state_updated_ts", "alarms", ["state", "updated_ts"])
    op.create_index("ix_alarms_site_updated_ts", "alarms", ["site", "updated_ts"])
    op.create_index("ix_alarms_updated_ts", "alarms", ["updated_ts"])
    op.create_index("ix_alarms_rule_id_source_id", "alarms", ["rule_id", "source_id"])

    op.create_table(
        "alarm_events",
        _serial_id(),
        _text("alarm_id"),
        _ts("ts"),
        *(_text(n) for n in ("actor", "action", "state", "severity")),
        _text("note", nullable=True, long=True),
        sa.ForeignKeyConstraint(
            ["alarm_id"], ["alarms.id"], name=op.f("fk_alarm_events_alarm_id_alarms"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alarm_events")),
    )
    op.create_index("ix_alarm_events_alarm_id_ts", "alarm_events", ["alarm_id", "ts"])


def _work_orders() -> None:
    op.create_table(
        "work_orders",
        _text("id"),
        _text("alarm_id"),
        _text("title", long=True),
        *(_text(n) for n in ("category", "severity", "site", "building", "space")),
        _text("party_id", nullable=True),
        _text("state"),
        _ts("created_ts"),
        _ts("deadline_ts"),
        sa.Column("escalation_level", sa.Integer(), nullable=False),
        _text("escalated_to", nullable=True),
        _text("assignee", nullable=True),
        _text("note", nullable=True, long=True),
        sa.Column("photos", sa.JSON(), nullable=False),
        _ts("closed_ts", nullable=True),
        sa.Column("overdue", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["alarm_id"], ["alarms.id"], name=op.f("fk_work_orders_alarm_id_alarms"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_work_orders")),
    )
    op.create_index("ix_work_orders_state_created_ts", "work_orders", ["state", "created_ts"])
    op.create_index("ix_work_orders_party_id_created_ts", "work_orders", ["party_id", "created_ts"])
    op.create_index("ix_work_orders_created_ts", "work_orders", ["created_ts"])
    op.create_index("ix_work_orders_alarm_id", "work_orders", ["alarm_id"])

    op.create_table(
        "work_order_steps",
        _serial_id(),
        _text("work_order_id"),
        _ts("ts"),
        _text("actor"),
        _text("action"),
        _text("note", nullable=True, long=True),
        sa.ForeignKeyConstraint(
            ["work_order_id"],
            ["work_orders.id"],
            name=op.f("fk_work_order_steps_work_order_id_work_orders"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_work_order_steps")),
    )
    op.create_index("ix_work_order_steps_work_order_id_ts", "work_order_steps", ["work_order_id", "ts"])


def _credit_rules_documents() -> None:
    op.create_table(
        "credit_events",
        _serial_id(),
        _text("party_id"),
        _ts("ts"),
        sa.Column("delta", sa.Float(), nullable=False),
        sa.Column("score_after", sa.Float(), nullable=False),
        _text("reason", long=True),
        _text("work_order_id", nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_credit_events")),
    )
    op.create_index("ix_credit_events_party_id_ts", "credit_events", ["party_id", "ts"])

    op.create_table(
        "rule_versions",
        _text("rule_id"),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("body", sa.JSON(), nullable=False),
        _text("actor"),
        _ts("ts"),
        sa.PrimaryKeyConstraint("rule_id", "version", name=op.f("pk_rule_versions")),
    )
    op.create_table(
        "documents",
        _text("name"),
        sa.Column("body", sa.JSON(), nullable=False),
        _ts("updated_ts"),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_documents")),
    )


def upgrade() -> None:
    """Create every table and index of the operational store."""
    _alarms()
    _work_orders()
    _credit_rules_documents()


def downgrade() -> None:
    """Drop everything the upgrade created (dropping a table drops its indexes)."""
    for table in ("work_order_steps", "work_orders", "alarm_events", "alarms", "credit_events"):
        op.drop_table(table)
    op.drop_table("rule_versions")
    op.drop_table("documents")
