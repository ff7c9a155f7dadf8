"""SafeTwin's own state: health, status, unregistered devices, dead letters."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool

from api.context import ApiContext, SystemStatus
from api.params import Limit, Offset
from api.schemas import Liveness, Page, problem_responses
from core.contract import DeadLetter
from ingest.registry import UnregisteredDevice

_ALL = 1 << 30  # DeadLetterLog keeps a bounded number; this asks for all it keeps


def system_router(ctx: ApiContext) -> APIRouter:
    """Routes about the platform itself: /health, /status, /unregistered, /dead-letters."""
    router = APIRouter(tags=["system"])

    @router.get("/health", response_model=Liveness, summary="Liveness: 200 while the API answers")
    async def health() -> Liveness:
        return Liveness()

    @router.get("/status", response_model=SystemStatus, summary="Ingest, history and alarm status")
    async def status() -> SystemStatus:
        # The status callable may take the history writer's lock; keep it off the event loop.
        return await run_in_threadpool(ctx.status)

    @router.get(
        "/unregistered",
        response_model=Page[UnregisteredDevice],
        summary="Devices that send data but are not in the twin, latest first",
        responses=problem_responses(422),
    )
    async def unregistered(limit: Limit = 100, offset: Offset = 0) -> Page[UnregisteredDevice]:
        items = ctx.unregistered.list()
        return Page[UnregisteredDevice](
            items=items[offset : offset + limit], total=len(items), limit=limit, offset=offset
        )

    @router.get(
        "/dead-letters",
        response_model=Page[DeadLetter],
        summary="Recently refused messages, newest first",
        responses=problem_responses(422),
    )
    async def dead_letters(limit: Limit = 100, offset: Offset = 0) -> Page[DeadLetter]:
        items = ctx.dead_letters.recent(_ALL)
        return Page[DeadLetter](
            items=items[offset : offset + limit], total=len(items), limit=limit, offset=offset
        )

    return router
