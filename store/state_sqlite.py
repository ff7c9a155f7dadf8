"""Operational state in SQLite: snapshots of live device state and the unregistered-device list.

Small, local and transactional; PostgreSQL takes this role in multi-machine deployments later.
"""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path
from typing import Any

import orjson

from core.contract import now_ms
from core.errors import StoreError
from core.steps import Encoded


class SqliteStateStore:
    """Named JSON documents, each replaced whole in one transaction."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._lock = threading.Lock()
        try:
            self._con = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
            self._con.execute("PRAGMA journal_mode=WAL")
            self._con.execute(
                "CREATE TABLE IF NOT EXISTS documents (name TEXT PRIMARY KEY, body BLOB NOT NULL, "
                "updated_ms INTEGER NOT NULL)"
            )
        except sqlite3.Error as err:
            raise StoreError(f"cannot open {path}: {err}", backend="sqlite", retryable=False) from err

    def save(self, name: str, doc: Any) -> None:
        self.save_encoded(name, orjson.dumps(doc))

    def save_encoded(self, name: str, body: bytes | Encoded) -> None:
        """Save a document encoded as JSON already (core/steps.py)."""
        blob = body.assemble() if isinstance(body, Encoded) else body
        with self._lock:
            self._con.execute(
                "INSERT INTO documents(name, body, updated_ms) VALUES (?, ?, ?) "
                "ON CONFLICT(name) DO UPDATE SET body=excluded.body, updated_ms=excluded.updated_ms",
                (name, blob, now_ms()),
            )

    def load(self, name: str) -> Any | None:
        with self._lock:
            row = self._con.execute("SELECT body FROM documents WHERE name = ?", (name,)).fetchone()
        return None if row is None else orjson.loads(row[0])

    def close(self) -> None:
        with self._lock:
            self._con.close()
