"""Where accounts live: the operational SQL database (SQLite file or PostgreSQL), same as alarms."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from sqlalchemy import Engine, delete, func, select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from accounts.models import ApiKey, AuditEntry, User
from core.errors import StoreError
from store.sql.engine import make_engine, parse_url, translate
from store.sql.migrations import upgrade
from store.sql.tables_accounts import ApiKeyRow, AuditRow, SessionRow, UserRow

R = TypeVar("R")


def user_of(row: UserRow) -> User:
    """The API view of a user row."""
    return User(
        username=row.username,
        role=row.role,
        sites=list(row.sites),
        buildings=list(row.buildings),
        tenant=row.tenant,
        display_name=row.display_name,
        disabled=row.disabled,
        created_ts=row.created_ts,
    )


def key_of(row: ApiKeyRow) -> ApiKey:
    """The API view of a key row (never the key)."""
    return ApiKey(
        id=row.id,
        name=row.name,
        role=row.role,
        sites=list(row.sites),
        buildings=list(row.buildings),
        tenant=row.tenant,
        created_by=row.created_by,
        created_ts=row.created_ts,
        last_used_ts=row.last_used_ts,
        revoked=row.revoked,
    )


def _audit_of(row: AuditRow) -> AuditEntry:
    return AuditEntry(
        id=row.id,
        ts=row.ts,
        actor=row.actor,
        role=row.role,
        ip=row.ip,
        method=row.method,
        path=row.path,
        status=row.status,
        action=row.action,
        detail=dict(row.detail),
    )


def _count(result: object) -> int:
    """Rows a DELETE or UPDATE touched."""
    return int(getattr(result, "rowcount", 0))


class AccountStore:
    """Users, sessions, API keys and the audit log in SQL tables; opening migrates the schema."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._engine: Engine | None = None
        self._sessions: sessionmaker[Session] | None = None

    def open(self) -> None:
        """Migrate the schema to the newest version and connect."""
        upgrade(self.url)
        self._engine = make_engine(self.url)
        self._sessions = sessionmaker(self._engine, expire_on_commit=False)

    def close(self) -> None:
        if self._engine is not None:
            self._engine.dispose()
        self._engine = self._sessions = None

    def _run(self, doing: str, work: Callable[[Session], R]) -> R:
        if self._sessions is None:
            raise StoreError(f"{doing}: the account store is not open", backend="sql", retryable=False)
        try:
            with self._sessions.begin() as session:
                return work(session)
        except SQLAlchemyError as err:
            raise translate(err, parse_url(self.url), doing) from err

    # --- users ----------------------------------------------------------------------------------

    def add_user(self, row: UserRow) -> bool:
        """Insert a user; False when the user name is taken."""

        def work(s: Session) -> bool:
            if s.get(UserRow, row.username) is not None:
                return False
            s.add(row)
            return True

        try:
            return self._run(f"adding user {row.username}", work)
        except StoreError:
            if self.user(row.username) is not None:  # another process made it at the same moment
                return False
            raise

    def user(self, username: str) -> UserRow | None:
        return self._run("reading a user", lambda s: s.get(UserRow, username))

    def users(self, limit: int, offset: int) -> tuple[list[User], int]:
        """A page of users by name, and how many there are."""

        def work(s: Session) -> tuple[list[User], int]:
            total = s.scalar(select(func.count()).select_from(UserRow)) or 0
            rows = s.scalars(select(UserRow).order_by(UserRow.username).limit(limit).offset(offset))
            return [user_of(r) for r in rows], total

        return self._run("listing users", work)

    def update_user(self, username: str, changes: dict[str, Any]) -> UserRow | None:
        """Apply column changes; None when there is no such user."""

        def work(s: Session) -> UserRow | None:
            row = s.get(UserRow, username)
            if row is not None:
                for name, value in changes.items():
                    setattr(row, name, value)
            return row

        return self._run(f"updating user {username}", work)

    def delete_user(self, username: str) -> bool:
        def work(s: Session) -> bool:
            s.execute(delete(SessionRow).where(SessionRow.username == username))
            return _count(s.execute(delete(UserRow).where(UserRow.username == username))) > 0

        return self._run(f"deleting user {username}", work)

    # --- sessions -------------------------------------------------------------------------------

    def add_session(self, row: SessionRow) -> None:
        self._run("starting a session", lambda s: s.add(row))

    def session(self, token_hash: str) -> tuple[SessionRow, UserRow] | None:
        def work(s: Session) -> tuple[SessionRow, UserRow] | None:
            found = s.execute(
                select(SessionRow, UserRow)
                .join(UserRow, UserRow.username == SessionRow.username)
                .where(SessionRow.token_hash == token_hash)
            ).first()
            return (found[0], found[1]) if found is not None else None

        return self._run("reading a session", work)

    def end_sessions(self, *, token_hash: str | None = None, username: str | None = None) -> int:
        """Delete one session, or all of a user's; how many were deleted."""
        cond = SessionRow.token_hash == token_hash if token_hash else SessionRow.username == username
        return self._run("ending sessions", lambda s: _count(s.execute(delete(SessionRow).where(cond))))

    def purge_sessions(self, now: int) -> int:
        """Delete expired sessions."""
        stmt = delete(SessionRow).where(SessionRow.expires_ts <= now)
        return self._run("purging sessions", lambda s: _count(s.execute(stmt)))

    # --- API keys -------------------------------------------------------------------------------

    def add_key(self, row: ApiKeyRow) -> None:
        self._run("adding an API key", lambda s: s.add(row))

    def key_by_hash(self, key_hash: str) -> ApiKeyRow | None:
        stmt = select(ApiKeyRow).where(ApiKeyRow.key_hash == key_hash)
        return self._run("reading an API key", lambda s: s.scalars(stmt).first())

    def key_by_id(self, key_id: str) -> ApiKeyRow | None:
        return self._run("reading an API key", lambda s: s.get(ApiKeyRow, key_id))

    def touch_key(self, key_id: str, now: int) -> None:
        stmt = update(ApiKeyRow).where(ApiKeyRow.id == key_id).values(last_used_ts=now)
        self._run("marking an API key used", lambda s: s.execute(stmt))

    def keys(self, limit: int, offset: int) -> tuple[list[ApiKey], int]:
        def work(s: Session) -> tuple[list[ApiKey], int]:
            total = s.scalar(select(func.count()).select_from(ApiKeyRow)) or 0
            rows = s.scalars(
                select(ApiKeyRow).order_by(ApiKeyRow.created_ts, ApiKeyRow.id).limit(limit).offset(offset)
            )
            return [key_of(r) for r in rows], total

        return self._run("listing API keys", work)

    def revoke_key(self, key_id: str) -> ApiKeyRow | None:
        def work(s: Session) -> ApiKeyRow | None:
            row = s.get(ApiKeyRow, key_id)
            if row is not None:
                row.revoked = True
            return row

        return self._run(f"revoking API key {key_id}", work)

    # --- audit ----------------------------------------------------------------------------------

    def add_audit(self, row: AuditRow) -> None:
        self._run("writing the audit log", lambda s: s.add(row))

    def audit(
        self, limit: int, offset: int, actor: str | None = None, since: int | None = None
    ) -> tuple[list[AuditEntry], int]:
        """A page of the audit log, newest first, and how many entries match."""

        def work(s: Session) -> tuple[list[AuditEntry], int]:
            conds: list[Any] = []
            if actor is not None:
                conds.append(AuditRow.actor == actor)
            if since is not None:
                conds.append(AuditRow.ts >= since)
            base = select(AuditRow).where(*conds)
            total = s.scalar(select(func.count()).select_from(base.subquery())) or 0
            rows = s.scalars(
                base.order_by(AuditRow.ts.desc(), AuditRow.id.desc()).limit(limit).offset(offset)
            )
            return [_audit_of(r) for r in rows], total

        return self._run("reading the audit log", work)
