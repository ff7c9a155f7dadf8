"""SafeTwin's own state: health, status, unregistered devices, dead letters."""

from __future__ import annotations

from http import HTTPStatus

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from accounts.scope import Scope
from api.auth import scope_of
from api.context import ApiContext, SystemStatus
from api.params import Limit, Offset
from api.schemas import PROBLEM_JSON, Liveness, Page, problem_responses
from core.contract import DeadLetter
from ingest.registry import UnregisteredDevice

_ALL = 1 << 30  # DeadLetterLog keeps a bounded number; this asks for all it keeps


class Readiness(BaseModel):
    """Whether this process can do its work now, and if not, why."""

    ready: bool = Field(description="True when every check passes")
    role: str = Field(description="`safetwin run --role` of this process")
    checks: dict[str, bool] = Field(
        description="Each check: mqtt (broker connection), history_store, no_critical"
    )
    reasons: list[str] = Field(description="What keeps it from being ready, for a person to act on")


def readiness(status: SystemStatus, role: str) -> Readiness:
    """Ready when the broker connection is up and no critical alarm about SafeTwin itself is active."""
    critical = [a.message for a in status.alarms if a.severity == "critical"]
    checks = {"mqtt": status.mqtt_connected, "no_critical": not critical}
    reasons = [] if status.mqtt_connected else ["not connected to the MQTT broker (see GET /api/v1/status)"]
    if "store_up" in status.history:
        checks["history_store"] = bool(status.history["store_up"])  # down: readings wait in the spool
    return Readiness(ready=not reasons and not critical, role=role, checks=checks, reasons=reasons + critical)


def scoped_status(ctx: ApiContext, full: SystemStatus, scope: Scope) -> SystemStatus:
    """The platform's status as a scoped account sees it: device counts of its places only."""
    mine = [d for d, p in ctx.twin.devices.items() if scope.sees_place(p.site, p.building)]
    history = {k: v for k, v in full.history.items() if k in ("backend", "store_up")}
    return full.model_copy(
        update={
            "devices_total": len(mine),
            "devices_online": sum(1 for d in mine if ctx.live.devices[d].online),
            "history": history,
            "ingest": full.ingest.model_copy(update={"unregistered_devices": 0}),
        }
    )


def system_router(ctx: ApiContext) -> APIRouter:
    """Routes about the platform itself: /health, /status, /unregistered, /dead-letters."""
    router = APIRouter(tags=["system"])

    @router.get("/health", response_model=Liveness, summary="Liveness: 200 while the API answers")
    async def health() -> Liveness:
        return Liveness()

    @router.get(
        "/health/ready",
        response_model=Readiness,
        summary="Readiness: 200 when this process can do its work, else 503 with the reasons",
        responses=problem_responses(503),
    )
    async def ready() -> Readiness | JSONResponse:
        state = readiness(await run_in_threadpool(ctx.status), ctx.role)
        if state.ready:
            return state
        return _not_ready(state)

    @router.get("/status", response_model=SystemStatus, summary="Ingest, history and alarm status")
    async def status(request: Request) -> SystemStatus:
        # The status callable may take the history writer's lock; keep it off the event loop.
        full = await run_in_threadpool(ctx.status)
        scope = scope_of(request)
        return full if scope.everything else scoped_status(ctx, full, scope)

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


def _not_ready(state: Readiness) -> JSONResponse:
    """503 as problem+json, with the readiness fields as extension members (RFC 9457)."""
    body = {
        "title": HTTPStatus.SERVICE_UNAVAILABLE.phrase,
        "status": 503,
        "detail": "not ready: " + "; ".join(state.reasons),
        "instance": "/api/v1/health/ready",
    }
    return JSONResponse(body | state.model_dump(), status_code=503, media_type=PROBLEM_JSON)
