"""Authentication and authorisation of every API request, and the scope filter every router uses.

`authenticate` runs before every route of the app (it is an app-wide dependency): it lets through the
public paths, resolves `Authorization: Bearer <token>` or `X-API-Key` to a `Principal`, and checks the
permission the path and method need (`PERMISSIONS` below, as data; a path it does not name needs the
administrator). Routers then narrow what they answer to the principal's scope with `visible` /
`ensure_visible`, answering 404 for objects outside it so another tenant learns nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Annotated, TypeVar

from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.responses import JSONResponse
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool

from accounts.errors import AccountConflict, AccountError, AccountNotFound, LoginFailed, LoginLocked
from accounts.models import Principal
from accounts.roles import ALL, allows
from accounts.scope import Scope
from accounts.service import AccountService
from api.problems import problem_response

log = logging.getLogger(__name__)

API_PREFIX = "/api/v1"
PUBLIC = frozenset({"/auth/login", "/health", "/health/ready", "/openapi.json", "/docs"})
ANY = ""  # any authenticated principal

# Path pattern ('<first segment>' or '<first>/*/<third>') -> (permission to read, permission to change).
# The longer pattern wins; a path no pattern names needs ALL (the administrator).
PERMISSIONS: dict[str, tuple[str, str]] = {
    "sites/*/roster": ("vision:read", "vision:act"),
    "devices/*/commands": ("actuators:read", "actuators:command"),
    "rules/*/overrides": ("rules:read", "rules:override"),
    "twin": ("twin:read", ALL),
    "sites": ("twin:read", ALL),
    "buildings": ("twin:read", ALL),
    "devices": ("twin:read", ALL),
    "alarms": ("alarms:read", "alarms:act"),
    "shelves": ("alarms:read", "alarms:act"),
    "places": ("alarms:read", ALL),
    "notifications": ("alarms:read", ALL),
    "work-orders": ("workorders:read", "workorders:act"),
    "parties": ("parties:read", ALL),
    "kpis": ("parties:read", ALL),
    "rules": ("rules:read", "rules:write"),
    "vision": ("vision:read", "vision:act"),
    "snapshots": ("vision:read", ALL),
    "actuators": ("actuators:read", "actuators:command"),
    "commands": ("actuators:read", "actuators:command"),
    "permits": ("permits:read", "permits:act"),
    "status": ("twin:read", ALL),  # scoped accounts get their own device counts
    "unregistered": ("system:read", ALL),
    "dead-letters": ("system:read", ALL),
    "metrics": ("system:read", ALL),
    "audit": ("audit:read", ALL),
    "users": ("users:admin", "users:admin"),
    "api-keys": ("users:admin", "users:admin"),
    "ingest": (ALL, "ingest:write"),
    "stream": ("stream:read", ALL),
    "auth": (ANY, ANY),
}
_SAFE = frozenset({"GET", "HEAD", "OPTIONS"})
_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="safetwin"'}

T = TypeVar("T")


def api_path(request: Request) -> str:
    """The request path below /api/v1 ('' when it is not under it)."""
    path = request.url.path
    root: str = request.scope.get("root_path", "")
    if root and path.startswith(root):
        path = path[len(root) :]
    return path[len(API_PREFIX) :] if path.startswith(API_PREFIX) else ""


def needed_permission(path: str, method: str) -> str:
    """The permission a method on an API path needs: from `PERMISSIONS`, ALL when the path is unknown."""
    parts = path.strip("/").split("/")
    deeper = f"{parts[0]}/*/{parts[2]}" if len(parts) >= 3 else ""
    read, write = PERMISSIONS.get(deeper) or PERMISSIONS.get(parts[0], (ALL, ALL))
    return read if method.upper() in _SAFE else write


def client_ip(request: Request) -> str:
    """The client's address as the server saw it."""
    return request.client.host if request.client else "-"


# Declared so the OpenAPI spec names both ways in (and the docs page offers 'Authorize'); read by hand.
_BEARER = HTTPBearer(auto_error=False, description="A login token: POST /api/v1/auth/login")
_API_KEY = APIKeyHeader(name="X-API-Key", auto_error=False, description="An API key: POST /api/v1/api-keys")


def _credentials(bearer: HTTPAuthorizationCredentials | None, key: str | None) -> tuple[str, str] | None:
    if bearer is not None and bearer.credentials.strip():
        return "token", bearer.credentials.strip()
    return ("key", key.strip()) if key and key.strip() else None


def _resolve(accounts: AccountService, kind: str, secret: str) -> Principal | None:
    return accounts.by_token(secret) if kind == "token" else accounts.by_key(secret)


def make_authenticate(accounts: AccountService | None) -> Callable[..., object]:
    """The app-wide dependency: who is asking, and may they do this at all."""

    async def authenticate(
        request: Request,
        bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_BEARER)],
        key: Annotated[str | None, Depends(_API_KEY)],
    ) -> None:
        path = api_path(request)
        if path in PUBLIC or not path:
            return
        if accounts is None:  # no accounts, no service: never an open API
            raise HTTPException(
                503, "accounts are not configured in this SafeTwin process; no request is served"
            )
        creds = _credentials(bearer, key)
        if creds is None:
            raise HTTPException(
                401,
                "authentication required: send 'Authorization: Bearer <token>' (POST /api/v1/auth/login) "
                "or an 'X-API-Key' header",
                headers=_CHALLENGE,
            )
        principal = await run_in_threadpool(_resolve, accounts, *creds)
        if principal is None:
            raise HTTPException(
                401,
                "the token or API key is not valid (expired, revoked or unknown); log in again",
                headers=_CHALLENGE,
            )
        request.state.principal = principal
        need = needed_permission(path, request.method)
        if need != ANY and not allows(principal.permissions, need):
            what = "administrator rights" if need == ALL else f"the permission '{need}'"
            raise HTTPException(
                403, f"role {principal.role.value} lacks {what} for {request.method} {API_PREFIX}{path}"
            )

    return authenticate


def current_principal(request: Request) -> Principal:
    """The principal `authenticate` found for this request."""
    principal = getattr(request.state, "principal", None)
    if not isinstance(principal, Principal):
        raise HTTPException(401, "authentication required", headers=_CHALLENGE)
    return principal


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]


def require(permission: str) -> Callable[[Request], Principal]:
    """A route dependency that needs one more permission than its path does (403 without it)."""

    def check(request: Request) -> Principal:
        principal = current_principal(request)
        if not allows(principal.permissions, permission):
            raise HTTPException(403, f"role {principal.role.value} lacks the permission '{permission}'")
        return principal

    return check


def scope_of(request: Request) -> Scope:
    """The scope of the request's principal."""
    return current_principal(request).scope


def visible(request: Request, site: str, building: str = "") -> bool:
    """Whether the principal sees a place (a building's inside, or a site's spaces outside buildings)."""
    return scope_of(request).sees_place(site, building)


def ensure_visible(request: Request, site: str, building: str, not_found: HTTPException) -> None:
    """Raise `not_found` (a 404) for a place outside the principal's scope: they learn nothing of it."""
    if not visible(request, site, building):
        raise not_found


def only_visible(request: Request, items: Iterable[T], place: Callable[[T], tuple[str, str]]) -> list[T]:
    """The items whose (site, building) the principal sees, in order."""
    scope = scope_of(request)
    if scope.everything:
        return list(items)
    return [item for item in items if scope.sees_place(*place(item))]


def operator_of(request: Request) -> str:
    """The name of the person acting: the authenticated principal's, never a header or body field."""
    return current_principal(request).name


def install_account_handlers(app: FastAPI) -> None:
    """Account errors as problem+json: 401, 404, 409, 429 with Retry-After."""

    async def handle(request: Request, exc: Exception) -> JSONResponse:
        path = request.url.path
        if isinstance(exc, LoginLocked):
            return problem_response(429, str(exc), path, headers={"Retry-After": str(exc.retry_after_s)})
        if isinstance(exc, LoginFailed):
            return problem_response(401, str(exc), path)
        status = 404 if isinstance(exc, AccountNotFound) else 409 if isinstance(exc, AccountConflict) else 422
        return problem_response(status, str(exc), path)

    app.add_exception_handler(AccountError, handle)
