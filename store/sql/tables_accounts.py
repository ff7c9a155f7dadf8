"""Tables of accounts and access: users, API keys, sessions, the audit log."""

from __future__ import annotations

from store.sql.tables import Base

__all__ = ["Base"]
