"""Live changes as server-sent events, each filtered by the caller's scope."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from accounts.scope import Scope
from api.auth import current_principal
from api.changes import Change, ChangeHub
from api.context import ApiContext
from api.schemas import problem_responses

HEARTBEAT_S = 15.0


def _frame(change: Change) -> bytes:
    return f"event: {change.kind}\ndata: {json.dumps(change.data, ensure_ascii=False)}\n\n".encode()


async def _events(
    hub: ChangeHub, still_valid: Callable[[], bool], scope: Scope, request: Request, duration_s: float | None
) -> AsyncIterator[bytes]:
    sub = hub.subscribe()
    loop = asyncio.get_running_loop()
    stop = None if duration_s is None else loop.time() + duration_s
    try:
        yield b": connected\n\n"
        while stop is None or loop.time() < stop:
            wait = HEARTBEAT_S if stop is None else min(HEARTBEAT_S, max(0.0, stop - loop.time()))
            try:
                change = await asyncio.wait_for(sub.queue.get(), timeout=wait)
            except TimeoutError:
                # A stream outlives no logout, expiry, disabled account or revoked key.
                if await request.is_disconnected() or not await run_in_threadpool(still_valid):
                    return
                yield b": heartbeat\n\n"
                continue
            if scope.sees_place(change.site, change.building):
                yield _frame(change)
    finally:
        hub.unsubscribe(sub)


def stream_router(ctx: ApiContext) -> APIRouter:
    """GET /stream: alarm, work-order and device changes as text/event-stream."""
    router = APIRouter(tags=["stream"])

    @router.get(
        "/stream",
        summary="Live changes (server-sent events: alarm, work_order, device), only those in scope",
        response_class=StreamingResponse,
        responses={200: {"content": {"text/event-stream": {}}}, **problem_responses(503)},
    )
    async def stream(
        request: Request,
        duration_s: Annotated[
            float | None, Query(gt=0, le=86400, description="Close the stream after this many seconds")
        ] = None,
    ) -> StreamingResponse:
        if ctx.changes is None:
            raise HTTPException(503, "live changes are not published in this SafeTwin process")
        principal = current_principal(request)
        accounts = ctx.accounts
        assert accounts is not None  # authenticate let the request in

        def still_valid() -> bool:
            return accounts.still_valid(principal)

        events = _events(ctx.changes, still_valid, principal.scope, request, duration_s)
        return StreamingResponse(
            events, media_type="text/event-stream", headers={"Cache-Control": "no-cache"}
        )

    return router
