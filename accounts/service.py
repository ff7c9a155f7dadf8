"""Accounts as the API uses them: log in and out, resolve a token or key to a principal, manage users."""

from __future__ import annotations

import logging
import secrets
import time
from dataclasses import dataclass

from accounts.errors import AccountConflict, AccountNotFound, LoginFailed, LoginLocked
from accounts.models import ApiKey, ApiKeyCreated, ApiKeyIn, Grant, Me, Principal, User, UserIn, UserUpdate
from accounts.ratelimit import LoginLimiter
from accounts.roles import Role, is_scoped, permissions_of
from accounts.scope import EVERYTHING, Scope, site_scope, tenant_scope
from accounts.secrets import KEY_PREFIX, TOKEN_PREFIX, digest, hash_password, new_secret, verify_password
from accounts.store import AccountStore, key_of, user_of
from core.settings import AuthSettings
from store.sql.tables_accounts import ApiKeyRow, SessionRow, UserRow
from twin.twin import Twin

log = logging.getLogger(__name__)

KEY_TOUCH_MS = 60_000  # an API key's last use is recorded at most once a minute
PURGE_EVERY_MS = 3_600_000  # expired sessions are deleted at a login at most once an hour


def now_ms() -> int:
    return int(time.time() * 1000)


@dataclass(frozen=True)
class Session:
    """A new login: the token (shown once) and when it expires."""

    token: str
    expires_ts: int
    principal: Principal


def me_of(p: Principal) -> Me:
    """The API view of a principal."""
    return Me(
        username=p.name,
        role=p.role,
        permissions=sorted(p.permissions),
        sites=sorted(p.scope.visible_sites) if not p.scope.everything else [],
        buildings=sorted(p.scope.buildings) if not p.scope.everything else [],
        tenant=p.tenant,
        everything=p.scope.everything,
    )


class AccountService:
    """Users, sessions and API keys over an `AccountStore`, with scopes resolved against the twin."""

    def __init__(self, store: AccountStore, twin: Twin, settings: AuthSettings) -> None:
        self.store = store
        self.twin = twin
        self.settings = settings
        self.limiter = LoginLimiter(settings.login_max_failures, settings.login_window_s)
        self._purged_ts = 0

    def scope_of(self, grant: Grant) -> Scope:
        """What a role with these sites, buildings or tenant sees of the twin."""
        if not is_scoped(grant.role):
            return EVERYTHING
        if grant.tenant:
            return tenant_scope(self.twin, grant.tenant)
        return site_scope(self.twin, grant.sites, grant.buildings)

    def _principal(self, name: str, kind: str, grant: Grant, token_hash: str | None = None) -> Principal:
        return Principal(
            name=name,
            kind="user" if kind == "user" else "api_key",
            role=grant.role,
            permissions=permissions_of(grant.role),
            scope=self.scope_of(grant),
            sites=tuple(grant.sites),
            buildings=tuple(grant.buildings),
            tenant=grant.tenant,
            token_hash=token_hash,
        )

    # --- logging in -----------------------------------------------------------------------------

    def login(self, username: str, password: str, ip: str) -> Session:
        """A new session token; LoginLocked after too many failures, LoginFailed on a wrong password."""
        wait = self.limiter.retry_after(username, ip)
        if wait:
            raise LoginLocked(username, wait)
        row = self.store.user(username)
        if not verify_password(password, row.password_hash if row else None) or row is None or row.disabled:
            self.limiter.failed(username, ip)
            raise LoginFailed(username)
        self.limiter.succeeded(username, ip)
        token = new_secret(TOKEN_PREFIX)
        now = now_ms()
        if now - self._purged_ts >= PURGE_EVERY_MS:
            self._purged_ts = now
            self.store.purge_sessions(now)
        expires = now + int(self.settings.token_ttl_s * 1000)
        self.store.add_session(
            SessionRow(
                token_hash=digest(token), username=row.username, created_ts=now, expires_ts=expires, ip=ip
            )
        )
        return Session(token, expires, self._principal(row.username, "user", user_of(row), digest(token)))

    def logout(self, principal: Principal) -> None:
        """End the session the principal came in with."""
        if principal.token_hash is not None:
            self.store.end_sessions(token_hash=principal.token_hash)

    def by_token(self, token: str) -> Principal | None:
        """The principal of a live session token, or None."""
        if not token.startswith(TOKEN_PREFIX):
            return None
        found = self.store.session(digest(token))
        if found is None:
            return None
        session, row = found
        if session.expires_ts <= now_ms() or row.disabled:
            return None
        return self._principal(row.username, "user", user_of(row), session.token_hash)

    def by_key(self, key: str) -> Principal | None:
        """The principal of a valid API key, or None."""
        if not key.startswith(KEY_PREFIX):
            return None
        row = self.store.key_by_hash(digest(key))
        if row is None or row.revoked:
            return None
        now = now_ms()
        if row.last_used_ts is None or now - row.last_used_ts >= KEY_TOUCH_MS:  # not a write per request
            self.store.touch_key(row.id, now)
        return self._principal(f"key:{row.id}", "api_key", key_of(row))

    def still_valid(self, principal: Principal) -> bool:
        """Whether the session or key a principal came with is still good (for long-lived streams)."""
        if principal.kind == "api_key":
            key_id = principal.name.removeprefix("key:")
            row = self.store.key_by_id(key_id)
            return row is not None and not row.revoked
        if principal.token_hash is None:
            return False
        found = self.store.session(principal.token_hash)
        return found is not None and found[0].expires_ts > now_ms() and not found[1].disabled

    # --- users ----------------------------------------------------------------------------------

    def create_user(self, new: UserIn) -> User:
        """Add a user; AccountConflict when the name is taken."""
        now = now_ms()
        row = UserRow(
            username=new.username,
            role=new.role.value,
            password_hash=hash_password(new.password),
            sites=list(new.sites),
            buildings=list(new.buildings),
            tenant=new.tenant,
            display_name=new.display_name,
            disabled=False,
            created_ts=now,
            updated_ts=now,
        )
        if not self.store.add_user(row):
            raise AccountConflict(
                f"user '{new.username}' already exists; PATCH /api/v1/users/{new.username} changes it"
            )
        return user_of(row)

    def get_user(self, username: str) -> User:
        row = self.store.user(username)
        if row is None:
            raise AccountNotFound(f"there is no user '{username}'; GET /api/v1/users lists them")
        return user_of(row)

    def update_user(self, username: str, change: UserUpdate) -> User:
        """Apply a change; the resulting role and scope must fit together; ends sessions on a new password."""
        current = self.get_user(username)
        fields = change.model_dump(exclude_unset=True, exclude={"password"})
        grant = Grant.model_validate(
            {
                **current.model_dump(include={"role", "sites", "buildings", "tenant"}),
                **{k: v for k, v in fields.items() if k in ("role", "sites", "buildings", "tenant")},
            }
        )
        columns = {**fields, "role": grant.role.value, "updated_ts": now_ms()}
        if change.password is not None:
            columns["password_hash"] = hash_password(change.password)
        row = self.store.update_user(username, columns)
        if row is None:
            raise AccountNotFound(f"there is no user '{username}'")
        if change.password is not None or change.disabled:
            self.store.end_sessions(username=username)
        return user_of(row)

    def delete_user(self, username: str) -> None:
        if not self.store.delete_user(username):
            raise AccountNotFound(f"there is no user '{username}'; GET /api/v1/users lists them")

    # --- API keys -------------------------------------------------------------------------------

    def create_key(self, new: ApiKeyIn, created_by: str) -> ApiKeyCreated:
        """A new API key; the key itself is returned this once and only its hash is kept."""
        key = new_secret(KEY_PREFIX)
        row = ApiKeyRow(
            id=secrets.token_hex(6),  # its own random id: listing keys shows nothing of the keys
            key_hash=digest(key),
            name=new.name,
            role=new.role.value,
            sites=list(new.sites),
            buildings=list(new.buildings),
            tenant=new.tenant,
            created_by=created_by,
            created_ts=now_ms(),
            last_used_ts=None,
            revoked=False,
        )
        self.store.add_key(row)
        return ApiKeyCreated(**key_of(row).model_dump(), key=key)

    def revoke_key(self, key_id: str) -> ApiKey:
        row = self.store.revoke_key(key_id)
        if row is None:
            raise AccountNotFound(f"there is no API key '{key_id}'; GET /api/v1/api-keys lists them")
        return key_of(row)

    # --- first start ----------------------------------------------------------------------------

    def ensure_user(self, username: str, password: str, role: Role, sites: list[str] | None = None) -> bool:
        """Create a user if the name is free; True when it was created."""
        if self.store.user(username) is not None:
            return False
        self.create_user(UserIn(username=username, password=password, role=role, sites=sites or []))
        return True
