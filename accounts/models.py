"""Accounts as records and API models: users, API keys, principals, audit entries."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from accounts.roles import SITE_SCOPED, TENANT_SCOPED, Role
from accounts.scope import Scope

USERNAME = r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$"


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Grant(_Frozen):
    """A role and the part of the twin it applies to."""

    role: Role = Field(description="What the account may do")
    sites: list[str] = Field(default_factory=list, max_length=1000, description="Sites (facility managers)")
    buildings: list[str] = Field(
        default_factory=list, max_length=1000, description="Buildings (facility managers)"
    )
    tenant: str | None = Field(
        None, max_length=100, description="Party id whose places an enterprise account sees"
    )

    @model_validator(mode="after")
    def _scope_fits_role(self) -> Grant:
        if self.role in SITE_SCOPED and not (self.sites or self.buildings):
            raise ValueError(
                f"a {self.role.value} needs at least one site or building in 'sites' or 'buildings'"
            )
        if self.role in TENANT_SCOPED and not self.tenant:
            raise ValueError(f"an {self.role.value} account needs 'tenant', the id of its party")
        if self.role not in SITE_SCOPED and (self.sites or self.buildings):
            raise ValueError(f"role {self.role.value} sees every site; 'sites' and 'buildings' must be empty")
        if self.role not in TENANT_SCOPED and self.tenant:
            raise ValueError(f"role {self.role.value} has no tenant; leave 'tenant' empty")
        return self


class UserIn(Grant):
    """A new user."""

    username: str = Field(pattern=USERNAME, description="Login name")
    password: str = Field(min_length=10, max_length=256, description="Password, at least 10 characters")
    display_name: str | None = Field(None, max_length=200, description="Name shown to people")


class UserUpdate(_Frozen):
    """Changes to a user; fields left out stay as they are."""

    role: Role | None = Field(None, description="New role")
    sites: list[str] | None = Field(None, max_length=1000, description="New sites")
    buildings: list[str] | None = Field(None, max_length=1000, description="New buildings")
    tenant: str | None = Field(None, max_length=100, description="New tenant")
    password: str | None = Field(None, min_length=10, max_length=256, description="New password")
    display_name: str | None = Field(None, max_length=200, description="New display name")
    disabled: bool | None = Field(None, description="Disable (true) or enable (false) logins")


class User(Grant):
    """A user as the API shows it (never with a password or its hash)."""

    username: str = Field(description="Login name")
    display_name: str | None = Field(None, description="Name shown to people")
    disabled: bool = Field(False, description="Logins are refused")
    created_ts: int = Field(description="Created, epoch ms")


class ApiKeyIn(Grant):
    """A new API key for an integration."""

    name: str = Field(min_length=1, max_length=100, description="What the key is for")


class ApiKey(Grant):
    """An API key as listed: never the key itself."""

    id: str = Field(description="Key id (random, safe to show; not part of the key)")
    name: str = Field(description="What the key is for")
    created_by: str = Field(description="Who made it")
    created_ts: int = Field(description="Created, epoch ms")
    last_used_ts: int | None = Field(None, description="Last accepted, epoch ms")
    revoked: bool = Field(False, description="No longer accepted")


class ApiKeyCreated(ApiKey):
    """A new API key: `key` is shown this once and cannot be read again."""

    key: str = Field(description="The key; send it as the X-API-Key header")


@dataclass(frozen=True)
class Principal:
    """Who makes a request, what they may do and what they may see."""

    name: str  # user name, or 'key:<id>' for an API key
    kind: Literal["user", "api_key"]
    role: Role
    permissions: frozenset[str]
    scope: Scope
    sites: tuple[str, ...] = ()
    buildings: tuple[str, ...] = ()
    tenant: str | None = None
    token_hash: str | None = None  # the session's token hash, for logout


class Me(_Frozen):
    """The signed-in principal as the API shows it."""

    username: str = Field(description="User name, or 'key:<id>' for an API key")
    role: Role = Field(description="Role")
    permissions: list[str] = Field(description="What the role allows, e.g. 'alarms:act'")
    sites: list[str] = Field(description="Sites visible ('[]' with buildings empty too: see everything)")
    buildings: list[str] = Field(description="Buildings visible")
    tenant: str | None = Field(description="Party whose places an enterprise account sees")
    everything: bool = Field(description="Sees every site")


class LoginIn(_Frozen):
    username: str = Field(min_length=1, max_length=64, description="Login name")
    password: str = Field(min_length=1, max_length=256, description="Password")


class LoginOut(_Frozen):
    token: str = Field(description="Bearer token: send as 'Authorization: Bearer <token>'")
    expires_ts: int = Field(description="When the token stops working, epoch ms")
    user: Me


class AuditEntry(_Frozen):
    """One change or command: who, what, when, from where."""

    id: int = Field(description="Entry number")
    ts: int = Field(description="When, epoch ms")
    actor: str = Field(description="User name or 'key:<id>'; '-' when not authenticated")
    role: str = Field(description="The actor's role, '-' when not authenticated")
    ip: str = Field(description="Client address")
    method: str = Field(description="HTTP method")
    path: str = Field(description="Request path")
    status: int = Field(description="HTTP status answered")
    action: str = Field(description="What was done, e.g. 'POST /api/v1/alarms/{alarm_id}/acknowledge'")
    detail: dict[str, Any] = Field(default_factory=dict, description="Path parameters and other context")
