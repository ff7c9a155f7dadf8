"""The audit log: every change and command, who, what, when, from where."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from starlette.concurrency import run_in_threadpool

from accounts.models import AuditEntry
from api.context import ApiContext
from api.params import Limit, Offset, TimeMs
from api.routes.auth import need_accounts
from api.schemas import Page, problem_responses


def audit_router(ctx: ApiContext) -> APIRouter:
    """GET /audit (administrators and officers)."""
    router = APIRouter(tags=["accounts"])

    @router.get(
        "/audit",
        response_model=Page[AuditEntry],
        summary="Audit log, newest first",
        responses=problem_responses(422, 503),
    )
    async def audit(
        limit: Limit = 100,
        offset: Offset = 0,
        actor: Annotated[
            str | None, Query(max_length=100, description="Only this user or 'key:<id>'")
        ] = None,
        since: TimeMs = None,
    ) -> Page[AuditEntry]:
        items, total = await run_in_threadpool(need_accounts(ctx).store.audit, limit, offset, actor, since)
        return Page[AuditEntry](items=items, total=total, limit=limit, offset=offset)

    return router
