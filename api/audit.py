"""The audit log's recorder: every change and every command through the API, who, what, when, from where.

An ASGI middleware, so it sees every route, including those added later: each request with a method
that changes something (POST, PUT, PATCH, DELETE) under /api/v1 is written after it is answered,
with its status. Telemetry pushed to /ingest is data, not a change, and is not recorded.
"""

from __future__ import annotations

import logging
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from accounts.models import Principal
from accounts.service import now_ms
from accounts.store import AccountStore
from api.auth import API_PREFIX
from store.sql.tables_accounts import AuditRow

log = logging.getLogger(__name__)

_CHANGES = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_NOT_AUDITED = (f"{API_PREFIX}/ingest/",)


def _audited(scope: Scope) -> bool:
    path: str = scope.get("path", "")
    return (
        scope["type"] == "http"
        and scope.get("method", "GET") in _CHANGES
        and path.startswith(API_PREFIX + "/")
        and not path.startswith(_NOT_AUDITED)
    )


def audit_row(scope: Scope, status: int) -> AuditRow:
    """The audit entry of an answered request."""
    state: dict[str, Any] = scope.get("state", {})
    principal = state.get("principal")
    client = scope.get("client")
    route = scope.get("route")
    template = route.path if isinstance(route, BaseRoute) and hasattr(route, "path") else scope["path"]
    detail: dict[str, Any] = {k: str(v) for k, v in (scope.get("path_params") or {}).items()}
    if scope.get("query_string"):
        detail["query"] = scope["query_string"].decode("latin-1")[:500]
    if isinstance(principal, Principal):
        actor, role = principal.name, principal.role.value
    else:
        actor, role = str(state.get("login_user", "-")), "-"
    return AuditRow(
        ts=now_ms(),
        actor=actor[:100],
        role=role,
        ip=client[0] if client else "-",
        method=scope["method"],
        path=scope["path"][:2000],
        status=status,
        action=f"{scope['method']} {template if template.startswith(API_PREFIX) else API_PREFIX + template}",
        detail=detail,
    )


class AuditMiddleware:
    """Writes an audit entry for every answered change or command."""

    def __init__(self, app: ASGIApp, store: AccountStore | None) -> None:
        self.app = app
        self.store = store

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.store is None or not _audited(scope):
            await self.app(scope, receive, send)
            return
        scope.setdefault("state", {})
        status = 500

        async def remember(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, remember)
        finally:
            await self._write(audit_row(scope, status))

    async def _write(self, row: AuditRow) -> None:
        assert self.store is not None
        try:
            await run_in_threadpool(self.store.add_audit, row)
        except Exception:  # the answer is sent; a store that is down must not turn it into an error
            log.exception("could not write the audit entry of %s by %s", row.action, row.actor)
