"""Engines for the operational store, and the translation of SQLAlchemy errors into StoreError."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import (
    ArgumentError,
    DataError,
    DBAPIError,
    IntegrityError,
    InterfaceError,
    NoSuchModuleError,
    OperationalError,
    ProgrammingError,
    SQLAlchemyError,
    StatementError,
)

from core.errors import StoreError

BACKEND = "sql"
SQLITE_BUSY_TIMEOUT_S = 30.0
PG_CONNECT_TIMEOUT_S = 10


class NotJsonError(ValueError):
    """A body that JSON cannot carry (NaN, infinity, an object of no JSON type)."""


class JsonText:
    """A JSON document encoded already (core/steps.py): the column's encoder writes it as it is."""

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text


def _json_dumps(value: Any) -> str:
    """Compact UTF-8 JSON; NaN and infinities are written as null, as JavaScript's JSON.stringify does.

    orjson: a large document (a whole twin's rule state) takes it a tenth of the time of the standard
    library's encoder, which holds the interpreter lock, and so ingest, all along.  What orjson
    refuses (integers beyond 64 bits, types JSON does not have) goes to the standard library,
    which writes big integers and names what it cannot write.
    """
    if isinstance(value, JsonText):
        return value.text
    try:
        return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()
    except TypeError:
        pass
    try:
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    except (ValueError, TypeError) as err:
        raise NotJsonError(str(err)) from err


def not_json(err: NotJsonError, doing: str) -> StoreError:
    """The error for a body that cannot be stored as JSON."""
    return StoreError(
        f"{doing}: {err}; bodies must be plain JSON (no non-JSON types such as sets or objects)",
        backend=BACKEND,
        retryable=False,
    )


def _on_sqlite_connect(dbapi_connection: sqlite3.Connection, _record: object) -> None:
    """WAL lets API threads read while the writer writes; SQLite enforces foreign keys only when asked."""
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
    finally:
        cursor.close()


def make_engine(url: str, *, echo: bool = False) -> Engine:
    """An engine for `url`; SQLite gets its parent directory, WAL and foreign keys."""
    parsed = parse_url(url)
    if parsed.get_backend_name() == "sqlite":
        _make_parent(Path(parsed.database or ""))
        # File databases get a QueuePool whose connections may move between threads.
        engine = create_engine(
            parsed,
            echo=echo,
            json_serializer=_json_dumps,
            connect_args={"timeout": SQLITE_BUSY_TIMEOUT_S, "check_same_thread": False},
        )
        event.listen(engine, "connect", _on_sqlite_connect)
        return engine
    return create_engine(
        parsed,
        echo=echo,
        json_serializer=_json_dumps,
        pool_pre_ping=True,
        connect_args={"connect_timeout": PG_CONNECT_TIMEOUT_S},
    )


def _make_parent(database: Path) -> None:
    try:
        database.parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise StoreError(
            f"cannot create the directory of SQLite file {database}: {err}; check database.url",
            backend=BACKEND,
            retryable=False,
        ) from err


def parse_url(url: str) -> URL:
    """Parse a database URL, refusing what the store cannot use."""
    try:
        parsed = make_url(url)
    except ArgumentError as err:
        raise StoreError(
            f"database URL is not understood: {err}; check database.url", backend=BACKEND, retryable=False
        ) from err
    if parsed.get_backend_name() not in ("sqlite", "postgresql"):
        raise StoreError(
            f"database backend {parsed.get_backend_name()!r} is not supported: use sqlite:///path or "
            "postgresql+psycopg://user@host/db in database.url",
            backend=BACKEND,
            retryable=False,
        )
    if parsed.get_backend_name() == "sqlite" and parsed.database in (None, "", ":memory:"):
        raise StoreError(
            "an in-memory SQLite database would vanish between connections: use sqlite:///path/to/file.db "
            "in database.url",
            backend=BACKEND,
            retryable=False,
        )
    return parsed


def describe(url: URL) -> str:
    """Where the database is, for people, without the password."""
    if url.get_backend_name() == "sqlite":
        return f"SQLite file {url.database}"
    return f"PostgreSQL at {url.host or 'localhost'}:{url.port or 5432}/{url.database or ''}"


def _first_line(err: BaseException) -> str:
    text = str(getattr(err, "orig", None) or err).strip()
    return text.splitlines()[0] if text else type(err).__name__


def translate(err: SQLAlchemyError, url: URL, doing: str) -> StoreError:
    """A StoreError that says what failed, where and what to check.

    Only a record the database refuses is not retryable (the writer then drops that record alone); a
    database that is down, locked, read-only or on an old schema is retryable, so nothing is lost while
    a person fixes it.
    """
    where, detail = describe(url), _first_line(err)
    if isinstance(err, StatementError) and isinstance(err.orig, NotJsonError):
        return not_json(err.orig, doing)
    if isinstance(err, IntegrityError | DataError):
        hint = "; save the alarm or work order before its history" if "foreign key" in detail.lower() else ""
        return StoreError(f"{doing} refused by {where}: {detail}{hint}", backend=BACKEND, retryable=False)
    if isinstance(err, NoSuchModuleError | ArgumentError):
        return StoreError(f"{doing}: {detail}; check database.url", backend=BACKEND, retryable=False)
    if not isinstance(err, DBAPIError):  # misuse of SQLAlchemy itself: retrying cannot help
        return StoreError(f"{doing} failed on {where}: {detail}", backend=BACKEND, retryable=False)
    if url.get_backend_name() == "sqlite":
        return StoreError(f"{doing} failed on {where}: {detail}{_sqlite_hint(detail)}", backend=BACKEND)
    if isinstance(err, OperationalError | InterfaceError) and _is_connect_failure(err):
        return StoreError(
            f"cannot connect to {where}: {detail}; check database.url and that the server is running "
            "and accepts this user",
            backend=BACKEND,
        )
    if isinstance(err, ProgrammingError):
        return StoreError(
            f"{doing} failed on {where}: {detail}; check that database.url names the SafeTwin database, "
            "that its user may write it, and that the store was opened (opening migrates the schema)",
            backend=BACKEND,
        )
    return StoreError(f"{doing} failed on {where}: {detail}", backend=BACKEND)


def _is_connect_failure(err: DBAPIError) -> bool:
    """psycopg reports a failed connection without an SQLSTATE; server-side errors always carry one."""
    return err.connection_invalidated or getattr(err.orig, "sqlstate", None) is None


def _sqlite_hint(detail: str) -> str:
    """What to check for SQLite's operational errors, which it tells apart only by message."""
    if "locked" in detail or "busy" in detail:
        return f"; another process held a write transaction longer than {SQLITE_BUSY_TIMEOUT_S:.0f} s"
    if "unable to open" in detail or "readonly" in detail or "disk I/O" in detail:
        return "; check database.url and that the file and its directory are writable with free space"
    if "no such table" in detail or "no such column" in detail:
        return "; the schema is out of date or missing: open the store (opening migrates the schema)"
    return ""
