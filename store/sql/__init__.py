"""Relational operational store (SQLAlchemy 2): SQLite file by default, PostgreSQL for deployments."""

from store.sql.migrations import upgrade
from store.sql.repository import SqlOpsStore

__all__ = ["SqlOpsStore", "upgrade"]
