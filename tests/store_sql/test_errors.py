"""Failures a person must act on come out as StoreError naming what to check."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest
from sqlalchemy import text

from core.errors import StoreError
from core.settings import DatabaseSettings
from store.sql import SqlOpsStore, upgrade
from store.sql.engine import make_engine
from tests.fixtures.mosquitto import free_port
from tests.fixtures.postgres import PostgresDatabase
from tests.store_sql.support import T0, make_event, make_order, make_step


def test_unreachable_postgres_names_the_server_and_the_setting() -> None:
    port = free_port()  # nothing listens there
    store = SqlOpsStore(DatabaseSettings(url=f"postgresql://postgres@127.0.0.1:{port}/safetwin"))
    with pytest.raises(StoreError) as caught:
        store.open()
    message = str(caught.value)
    assert f"cannot connect to PostgreSQL at 127.0.0.1:{port}/safetwin" in message
    assert "check database.url" in message
    assert caught.value.backend == "sql"
    assert caught.value.retryable


def test_unwritable_sqlite_location_names_the_file(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(StoreError) as caught:
        upgrade(f"sqlite:///{blocker}/ops.db")
    assert str(blocker) in str(caught.value)
    assert not caught.value.retryable


def test_in_memory_sqlite_is_refused() -> None:
    with pytest.raises(StoreError, match="in-memory SQLite database would vanish"):
        SqlOpsStore(DatabaseSettings(url="sqlite:///:memory:"))


def test_store_used_before_open_says_so(tmp_path: Path) -> None:
    store = SqlOpsStore(DatabaseSettings(url=f"sqlite:///{tmp_path}/ops.db"))
    with pytest.raises(StoreError, match=r"call open\(\) first"):
        store.get_alarm("a1")


def test_history_of_an_unsaved_alarm_is_refused(store: SqlOpsStore) -> None:
    with pytest.raises(StoreError) as caught:
        store.add_alarm_events([make_event("ghost", T0)])
    assert "ghost" in str(caught.value)
    assert "save the alarm or work order before its history" in str(caught.value)
    assert not caught.value.retryable
    with pytest.raises(StoreError, match="wo-x"):
        store.save_work_order(make_order("wo-x", alarm_id="ghost"))
    with pytest.raises(StoreError, match="wo-x"):
        store.add_work_order_steps([make_step("wo-x", T0)])


def test_negative_page_is_refused(store: SqlOpsStore) -> None:
    with pytest.raises(ValueError, match="must not be negative"):
        store.list_alarms(limit=-1)


def test_non_json_body_is_refused_with_the_reason(store: SqlOpsStore) -> None:
    with pytest.raises(StoreError, match=r"not JSON serializable.*non-JSON types") as caught:
        store.save_document("engine", {"window": {1.0, 2.0}})
    assert not caught.value.retryable
    assert store.load_document("engine") is None


def test_nan_is_stored_as_null_and_big_integers_whole(store: SqlOpsStore) -> None:
    store.save_document("engine", {"window": [1.0, float("nan"), float("inf")], "k": "水"})
    assert store.load_document("engine") == {"window": [1.0, None, None], "k": "水"}
    store.save_document("counter", {"n": 2**70})
    assert store.load_document("counter") == {"n": 2**70}


def test_missing_schema_is_retryable_and_names_the_fix(store: SqlOpsStore, db_url: str) -> None:
    engine = make_engine(db_url)
    with engine.begin() as con:
        con.execute(text("DROP TABLE documents"))
    engine.dispose()
    with pytest.raises(StoreError, match="opening migrates the schema") as caught:
        store.save_document("engine", {})
    assert caught.value.retryable  # the writer keeps the records until a person fixes it


@pytest.mark.postgres
def test_postgres_connections_dropped_by_the_server_are_replaced(postgres: PostgresDatabase) -> None:
    store = SqlOpsStore(DatabaseSettings(url=postgres.url))
    store.open()
    try:
        store.save_document("engine", {"n": 1})
        with psycopg.connect(
            f"host=127.0.0.1 port={postgres.server.port} user=postgres", autocommit=True
        ) as con:
            con.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (postgres.name,)
            )
        assert store.load_document("engine") == {"n": 1}
    finally:
        store.close()
