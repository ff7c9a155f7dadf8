"""Tables of accounts and access: users, API keys, sessions, the audit log."""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from store.sql.tables import Base, SerialId


class UserRow(Base):
    """A person who logs in; the password is kept only as an argon2 hash."""

    __tablename__ = "users"

    username: Mapped[str] = mapped_column(primary_key=True)
    role: Mapped[str]
    password_hash: Mapped[str] = mapped_column(Text)
    sites: Mapped[list[str]] = mapped_column(JSON)
    buildings: Mapped[list[str]] = mapped_column(JSON)
    tenant: Mapped[str | None]
    display_name: Mapped[str | None]
    disabled: Mapped[bool] = mapped_column(Boolean)
    created_ts: Mapped[int]
    updated_ts: Mapped[int]


class SessionRow(Base):
    """A login: the token is kept only as its SHA-256 hash."""

    __tablename__ = "sessions"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    username: Mapped[str] = mapped_column(ForeignKey("users.username", ondelete="CASCADE"), index=True)
    created_ts: Mapped[int]
    expires_ts: Mapped[int]
    ip: Mapped[str]


class ApiKeyRow(Base):
    """An integration's key, kept only as its SHA-256 hash, with its own role and scope."""

    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(primary_key=True)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str]
    role: Mapped[str]
    sites: Mapped[list[str]] = mapped_column(JSON)
    buildings: Mapped[list[str]] = mapped_column(JSON)
    tenant: Mapped[str | None]
    created_by: Mapped[str]
    created_ts: Mapped[int]
    last_used_ts: Mapped[int | None]
    revoked: Mapped[bool] = mapped_column(Boolean)


class AuditRow(Base):
    """One change or command: who, what, when, from where."""

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_ts", "ts"),)

    id: Mapped[int] = mapped_column(SerialId, primary_key=True, autoincrement=True)
    ts: Mapped[int]
    actor: Mapped[str]
    role: Mapped[str]
    ip: Mapped[str]
    method: Mapped[str]
    path: Mapped[str] = mapped_column(Text)
    status: Mapped[int]
    action: Mapped[str] = mapped_column(Text)
    detail: Mapped[dict[str, Any]]
