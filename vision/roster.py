"""Site rosters (the real-name rule): registered workers per site and who is checked in now.

A small SQLite file of its own (`vision.data_dir/roster.sqlite`); reads come from an in-memory copy,
so the ingest listener can ask "is this badge registered?" without touching the disk.
"""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from core.contract import AccessDirection, now_ms

_SCHEMA = """
CREATE TABLE IF NOT EXISTS workers (
    site_id TEXT NOT NULL, person_id TEXT NOT NULL, name TEXT NOT NULL, role TEXT NOT NULL,
    safety_trained INTEGER NOT NULL, registered_ts INTEGER NOT NULL, PRIMARY KEY (site_id, person_id));
CREATE TABLE IF NOT EXISTS presence (
    site_id TEXT NOT NULL, person_id TEXT NOT NULL, since_ts INTEGER NOT NULL,
    PRIMARY KEY (site_id, person_id));
"""


class WorkerIn(BaseModel):
    """A worker to register at a site."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    person_id: str = Field(
        min_length=1, max_length=128, description="Badge number or QR-code id, as gate readers report it"
    )
    name: str = Field(min_length=1, max_length=100, description="Real name")
    role: str = Field("worker", min_length=1, max_length=100, description="e.g. 'rebar worker', 'foreman'")
    safety_trained: bool = Field(False, description="Has done the site's safety training")


class Worker(WorkerIn):
    """A registered worker and whether they are on site now."""

    site_id: str = Field(description="Site of the roster")
    registered_ts: int = Field(description="When registered, epoch ms")
    checked_in: bool = Field(False, description="Checked in at a gate and not out since")


class Roster:
    """Registered workers and presence per site, persisted in SQLite."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._db.executescript(_SCHEMA)
        self._workers: dict[tuple[str, str], Worker] = {}
        self._present: dict[str, dict[str, int]] = {}
        for row in self._db.execute(
            "SELECT site_id, person_id, name, role, safety_trained, registered_ts FROM workers"
        ):
            w = Worker(
                site_id=row[0], person_id=row[1], name=row[2], role=row[3], safety_trained=bool(row[4]),
                registered_ts=row[5],
            )  # fmt: skip
            self._workers[(w.site_id, w.person_id)] = w
        for site, person, since in self._db.execute("SELECT site_id, person_id, since_ts FROM presence"):
            self._present.setdefault(site, {})[person] = since

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def register(self, site_id: str, worker: WorkerIn) -> Worker:
        """Add or replace a worker of a site's roster."""
        out = Worker(site_id=site_id, registered_ts=now_ms(), **worker.model_dump())
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO workers VALUES (?, ?, ?, ?, ?, ?)",
                (site_id, out.person_id, out.name, out.role, int(out.safety_trained), out.registered_ts),
            )
            self._workers[(site_id, out.person_id)] = out
        return self._view(out)

    def remove(self, site_id: str, person_id: str) -> bool:
        """Take a worker off a site's roster; False if they were not on it."""
        with self._lock:
            self._db.execute("DELETE FROM workers WHERE site_id = ? AND person_id = ?", (site_id, person_id))
            return self._workers.pop((site_id, person_id), None) is not None

    def workers(self, site_id: str) -> list[Worker]:
        """The site's roster, by person id."""
        with self._lock:
            found = [w for (s, _), w in self._workers.items() if s == site_id]
        return sorted((self._view(w) for w in found), key=lambda w: w.person_id)

    def _view(self, w: Worker) -> Worker:
        return w.model_copy(update={"checked_in": w.person_id in self._present.get(w.site_id, {})})

    def is_registered(self, site_id: str, person_id: str) -> bool:
        return (site_id, person_id) in self._workers

    def enforced(self, site_id: str) -> bool:
        """Whether the site keeps a roster (has registered anyone): only then are head counts checked."""
        return any(s == site_id for s, _ in self._workers)

    def checked_in(self, site_id: str) -> int:
        """Registered workers on site now."""
        return len(self._present.get(site_id, {}))

    def record_access(self, site_id: str, person_id: str, direction: AccessDirection, ts: int) -> bool:
        """Apply a check-in or -out of a registered worker; False (nothing stored) if unregistered."""
        if not self.is_registered(site_id, person_id):
            return False
        with self._lock:
            present = self._present.setdefault(site_id, {})
            if direction == AccessDirection.IN:
                present[person_id] = ts
                self._db.execute("INSERT OR REPLACE INTO presence VALUES (?, ?, ?)", (site_id, person_id, ts))
            else:
                present.pop(person_id, None)
                self._db.execute(
                    "DELETE FROM presence WHERE site_id = ? AND person_id = ?", (site_id, person_id)
                )
        return True
