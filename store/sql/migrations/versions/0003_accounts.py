"""Accounts and access: users, API keys, sessions, the audit log.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-21
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _text(name: str, nullable: bool = False, long: bool = False) -> sa.Column[str]:
    return sa.Column(name, sa.Text() if long else sa.String(), nullable=nullable)


def _ts(name: str, nullable: bool = False) -> sa.Column[int]:
    return sa.Column(name, sa.BigInteger(), nullable=nullable)


def _scope() -> tuple[sa.Column[Any], ...]:
    return (
        sa.Column("sites", sa.JSON(), nullable=False),
        sa.Column("buildings", sa.JSON(), nullable=False),
        _text("tenant", nullable=True),
    )


def upgrade() -> None:
    op.create_table(
        "users",
        _text("username"),
        _text("role"),
        _text("password_hash", long=True),
        *_scope(),
        _text("display_name", nullable=True),
        sa.Column("disabled", sa.Boolean(), nullable=False),
        _ts("created_ts"),
        _ts("updated_ts"),
        sa.PrimaryKeyConstraint("username", name=op.f("pk_users")),
    )
    op.create_table(
        "sessions",
        sa.Column("token_hash", sa.String(64), nullable=False),
        _text("username"),
        _ts("created_ts"),
        _ts("expires_ts"),
        _text("ip"),
        sa.ForeignKeyConstraint(
            ["username"], ["users.username"], name=op.f("fk_sessions_username_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("token_hash", name=op.f("pk_sessions")),
    )
    op.create_index("ix_sessions_username", "sessions", ["username"])
    op.create_table(
        "api_keys",
        _text("id"),
        sa.Column("key_hash", sa.String(64), nullable=False),
        _text("name"),
        _text("role"),
        *_scope(),
        _text("created_by"),
        _ts("created_ts"),
        _ts("last_used_ts", nullable=True),
        sa.Column("revoked", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_keys")),
        sa.UniqueConstraint("key_hash", name=op.f("uq_api_keys_key_hash")),
    )
    op.create_table(
        "audit_log",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        _ts("ts"),
        *(_text(n) for n in ("actor", "role", "ip", "method")),
        _text("path", long=True),
        sa.Column("status", sa.BigInteger(), nullable=False),
        _text("action", long=True),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_log")),
    )
    op.create_index("ix_audit_log_ts", "audit_log", ["ts"])


def downgrade() -> None:
    op.drop_index("ix_audit_log_ts", table_name="audit_log")
    op.drop_table("audit_log")
    op.drop_table("api_keys")
    op.drop_index("ix_sessions_username", table_name="sessions")
    op.drop_table("sessions")
    op.drop_table("users")
