"""Migrations: an empty database reaches the newest schema, which is exactly what the models describe."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect

from core.settings import DatabaseSettings
from store.sql import SqlOpsStore, upgrade
from store.sql.engine import make_engine
from store.sql.migrations import alembic_config
from store.sql.tables import Base

TABLES = {
    "alarms",
    "alarm_events",
    "work_orders",
    "work_order_steps",
    "credit_events",
    "rule_versions",
    "documents",
}


def _head() -> str | None:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def test_upgrade_creates_every_table_at_head(db_url: str) -> None:
    upgrade(db_url)
    upgrade(db_url)  # a second start finds nothing to do
    engine = make_engine(db_url)
    try:
        with engine.connect() as con:
            assert set(inspect(con).get_table_names()) >= TABLES
            assert MigrationContext.configure(con).get_current_revision() == _head()
    finally:
        engine.dispose()


def test_migrated_schema_matches_the_models(db_url: str) -> None:
    upgrade(db_url)
    engine = make_engine(db_url)
    try:
        with engine.connect() as con:
            context = MigrationContext.configure(con, opts={"compare_type": True})
            assert compare_metadata(context, Base.metadata) == []
    finally:
        engine.dispose()


def test_downgrade_to_base_and_back(db_url: str) -> None:
    upgrade(db_url)
    engine = make_engine(db_url)
    try:
        with engine.begin() as con:
            command.downgrade(alembic_config(con), "base")
        with engine.connect() as con:
            assert not TABLES & set(inspect(con).get_table_names())
    finally:
        engine.dispose()
    upgrade(db_url)


def test_sqlite_file_and_its_directory_are_created(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    store = SqlOpsStore(DatabaseSettings())  # the default: sqlite:///var/safetwin.db, relative
    store.open()
    store.close()
    assert (tmp_path / "var" / "safetwin.db").is_file()


def test_sqlite_runs_in_wal_mode_with_foreign_keys(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path}/ops.db")
    try:
        with engine.connect() as con:
            assert con.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert con.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    finally:
        engine.dispose()
