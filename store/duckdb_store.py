"""Embedded history in one DuckDB file: the default store, no server to run.

Times are BIGINT epoch milliseconds, as everywhere else in SafeTwin, so buckets are plain integer
arithmetic aligned to the epoch.  Each thread gets its own cursor (a DuckDB connection to the same
database), so the writer thread appends while API threads read, under DuckDB's MVCC.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from core.errors import StoreError
from core.records import COLUMNS, ReadingBatch, ReadingRecord
from store.base import HistoryPoint

log = logging.getLogger(__name__)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS readings (
    ts          BIGINT  NOT NULL,  -- measurement time, epoch ms
    received_ts BIGINT  NOT NULL,  -- receive time, epoch ms
    device_id   VARCHAR NOT NULL,
    metric      VARCHAR NOT NULL,
    value       DOUBLE  NOT NULL,
    unit        VARCHAR NOT NULL,
    site        VARCHAR NOT NULL,
    building    VARCHAR NOT NULL,
    space       VARCHAR NOT NULL,
    kind        VARCHAR NOT NULL
)
"""
_ARROW_SCHEMA = pa.schema(
    [("ts", pa.int64()), ("received_ts", pa.int64())]
    + [(c, pa.string()) for c in ("device_id", "metric")]
    + [("value", pa.float64())]
    + [(c, pa.string()) for c in ("unit", "site", "building", "space", "kind")]
)
_COLS = ", ".join(COLUMNS)
_INSERT = f"INSERT INTO readings ({_COLS}) SELECT {_COLS} FROM _batch"
_RAW = """
SELECT ts, value FROM readings
WHERE device_id = ? AND metric = ? AND ts >= ? AND ts < ?
ORDER BY ts
"""
_BUCKETS = """
SELECT ts // ? * ? AS bucket, avg(value), max(value), min(value), count(*)
FROM readings
WHERE device_id = ? AND metric = ? AND ts >= ? AND ts < ?
GROUP BY bucket ORDER BY bucket
"""
_REST = [c for c in COLUMNS if c not in ("device_id", "metric")]
_LATEST = (
    "SELECT device_id, metric, arg_max({" + ", ".join(f"'{c}': {c}" for c in _REST) + "}, (ts, received_ts))"
    " FROM readings WHERE_CLAUSE GROUP BY device_id, metric ORDER BY device_id, metric"
)
# Errors of the place, not of the data: the batch is kept and written again later.
_RETRYABLE = (
    duckdb.IOException,
    duckdb.ConnectionException,
    duckdb.OutOfMemoryException,
    duckdb.TransactionException,
    duckdb.InterruptException,
)


# Rows converted to Arrow at a time.  The conversion reads Python objects in C and holds the
# interpreter lock throughout: a whole half-second of history at 15,000 readings/s (7,500 rows) held it
# for 3-7 ms, and the event loop, ingest and commands included, stood still for as long.  A slice of
# 1,000 rows holds it for about a millisecond, and the writer lets go of it between slices.
ARROW_SLICE_ROWS = 1_000


def _arrow_table(batch: ReadingBatch) -> pa.Table:
    """The batch as an Arrow table, converted a slice at a time, letting other threads run between."""
    columns = batch.columns()
    n = len(batch)
    if n <= ARROW_SLICE_ROWS:
        return pa.Table.from_pydict(columns, schema=_ARROW_SCHEMA)
    parts = []
    for start in range(0, n, ARROW_SLICE_ROWS):
        piece = {k: v[start : start + ARROW_SLICE_ROWS] for k, v in columns.items()}
        parts.append(pa.Table.from_pydict(piece, schema=_ARROW_SCHEMA))
        time.sleep(0)  # hands the interpreter lock to a thread waiting for it
    return pa.concat_tables(parts)


class DuckDBHistory:
    """History in a DuckDB file; thread-safe, one cursor per thread."""

    name = "duckdb"

    def __init__(self, path: Path, memory_limit_mb: int = 256) -> None:
        self.path = Path(path)
        self.memory_limit_mb = memory_limit_mb
        self._conn: duckdb.DuckDBPyConnection | None = None
        self._lock = threading.Lock()
        self._cursors: dict[threading.Thread, duckdb.DuckDBPyConnection] = {}
        self._local = threading.local()
        self._generation = 0  # bumped by close(), so threads drop cursors of a closed database

    def open(self) -> None:
        """Open (creating the file, its folders and the table if missing); a no-op when open."""
        with self._lock:
            if self._conn is not None:
                return
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                conn = duckdb.connect(str(self.path), config={"memory_limit": f"{self.memory_limit_mb}MB"})
                conn.execute(_SCHEMA)
            except (duckdb.Error, OSError) as err:
                raise StoreError(f"cannot open {self.path}: {err}", backend=self.name) from err
            self._conn = conn
            log.info("DuckDB history at %s", self.path)

    def write(self, batch: ReadingBatch) -> None:
        """Insert the batch in one transaction, through an Arrow table of its columns."""
        if not len(batch):
            return
        try:
            table = _arrow_table(batch)
        except (pa.ArrowException, TypeError, ValueError, OverflowError) as err:
            raise StoreError(
                f"batch refused, a column has a wrong type: {err}", backend=self.name, retryable=False
            ) from err
        cur = self._cursor()
        try:
            cur.begin()
            cur.register("_batch", table)
            try:
                cur.execute(_INSERT)
            finally:
                cur.unregister("_batch")
            cur.commit()
        except duckdb.Error as err:
            _rollback(cur)
            raise StoreError(
                f"write of {len(batch)} readings failed: {err}",
                backend=self.name,
                retryable=isinstance(err, _RETRYABLE),
            ) from err

    def query(
        self, device_id: str, metric: str, start_ms: int, end_ms: int, bucket_ms: int | None = None
    ) -> list[HistoryPoint]:
        """Readings in [start_ms, end_ms), oldest first; buckets of bucket_ms aligned to the epoch."""
        if bucket_ms is None:
            rows = self._fetch(_RAW, [device_id, metric, start_ms, end_ms])
            return [HistoryPoint(ts=t, mean=v, max=v, min=v, count=1) for t, v in rows]
        if bucket_ms <= 0:
            raise ValueError(f"bucket_ms must be positive, got {bucket_ms}")
        rows = self._fetch(_BUCKETS, [bucket_ms, bucket_ms, device_id, metric, start_ms, end_ms])
        return [HistoryPoint(ts=t, mean=mean, max=hi, min=lo, count=n) for t, mean, hi, lo, n in rows]

    def latest(self, device_ids: Sequence[str] | None = None) -> list[ReadingRecord]:
        """The newest reading of each (device, metric); ties on ts go to the latest received."""
        if device_ids is None:
            rows = self._fetch(_LATEST.replace("WHERE_CLAUSE", ""), [])
        else:
            where = "WHERE list_contains(?, device_id)"
            rows = self._fetch(_LATEST.replace("WHERE_CLAUSE", where), [list(device_ids)])
        return [ReadingRecord(device_id=d, metric=m, **rest) for d, m, rest in rows]

    def cache_bytes(self) -> int | None:
        """DuckDB's buffer memory: the blocks it keeps cached, up to `memory_limit_mb`."""
        rows = self._fetch("SELECT sum(memory_usage_bytes) FROM duckdb_memory()", [])
        return int(rows[0][0] or 0)

    def close(self) -> None:
        """Close every thread's cursor and the database."""
        with self._lock:
            for cur in self._cursors.values():
                try:
                    cur.close()
                except duckdb.Error as err:  # a query still running in another thread ends with the database
                    log.warning("DuckDB cursor still busy at close (%s); closing the database anyway", err)
            self._cursors.clear()
            if self._conn is not None:
                self._conn.close()
                self._conn = None
            self._generation += 1

    # --- internals --------------------------------------------------------------------------

    def _fetch(self, sql: str, params: list[Any]) -> list[tuple[Any, ...]]:
        cur = self._cursor()
        try:
            return cur.execute(sql, params).fetchall()
        except duckdb.Error as err:
            raise StoreError(
                f"query failed: {err}", backend=self.name, retryable=isinstance(err, _RETRYABLE)
            ) from err

    def _cursor(self) -> duckdb.DuckDBPyConnection:
        """This thread's cursor, opening the database on first use."""
        mine: tuple[int, duckdb.DuckDBPyConnection] | None = getattr(self._local, "cursor", None)
        if mine is not None and mine[0] == self._generation:
            return mine[1]
        self.open()
        with self._lock:
            if self._conn is None:
                raise StoreError("database was closed", backend=self.name, retryable=False)
            self._close_dead_threads_cursors()
            cur = self._conn.cursor()
            self._cursors[threading.current_thread()] = cur
            self._local.cursor = (self._generation, cur)
        return cur

    def _close_dead_threads_cursors(self) -> None:
        for thread in [t for t in self._cursors if not t.is_alive()]:
            self._cursors.pop(thread).close()


def _rollback(cur: duckdb.DuckDBPyConnection) -> None:
    with contextlib.suppress(duckdb.Error):  # no transaction was open, or it is already gone
        cur.rollback()
