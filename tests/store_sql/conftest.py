"""Operational-store fixtures: every test runs on a SQLite file and on a real PostgreSQL database."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from core.settings import DatabaseSettings
from store.sql import SqlOpsStore
from tests.fixtures.postgres import PostgresDatabase


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """URL of an empty database: a SQLite file in a directory not yet made, or a fresh PostgreSQL one."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/nested/ops.db"
    database: PostgresDatabase = request.getfixturevalue("postgres")
    return database.url


@pytest.fixture
def store(db_url: str) -> Iterator[SqlOpsStore]:
    """An opened store on the empty database (migrated to the newest schema)."""
    ops = SqlOpsStore(DatabaseSettings(url=db_url))
    ops.open()
    yield ops
    ops.close()
