"""Commands to actuators by people, every command's life, and each actuator's state and suspect flag."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import unquote

from fastapi import APIRouter, FastAPI, HTTPException, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from actuators.errors import ActuatorError, CommandInvalid, CommandNotFound, CommandRefused, UnknownActuator
from actuators.records import ActuatorView, CommandDetail, CommandRecord, CommandState
from actuators.service import ActuatorService
from api.context import ApiContext
from api.params import Limit, Offset, TimeMs
from api.problems import problem_response
from api.schemas import FieldError, Page, problem_responses

OPERATOR_HEADER = "X-SafeTwin-Operator"
WEEK_S = 7 * 86_400


def operator_of(request: Request) -> str:
    """Who acts: the operator header (UTF-8, percent-encoded) for now; accounts will put the user here."""
    name = unquote(request.headers.get(OPERATOR_HEADER, "")).strip()
    return name[:100] or "anonymous"


class CommandIn(BaseModel):
    """A manual command; the params are those of the contract (docs/mqtt.md, vocabulary table)."""

    action: str = Field(
        min_length=1, max_length=64, description="e.g. 'set' (fan, relay, valve), 'play', 'stop'"
    )
    params: dict[str, Any] = Field(default_factory=dict, description="e.g. {'on': true, 'speed': 2}")
    reason: str = Field(min_length=1, max_length=1000, description="Why (recorded with the operator's name)")
    expires_in_s: float | None = Field(
        None,
        gt=0,
        le=WEEK_S,
        description="Override: after this many seconds the device returns to automatic control (or its "
        "state before the override); unset: a one-off command that rules may change later",
    )


def need_actuators(ctx: ApiContext) -> ActuatorService:
    if ctx.actuators is None:
        raise HTTPException(503, "actuators are not running in this SafeTwin process")
    return ctx.actuators


def actuators_router(ctx: ApiContext) -> APIRouter:
    """Routes under /devices/{id}/commands, /commands and /actuators."""
    router = APIRouter(tags=["actuators"])
    errors = problem_responses(404, 409, 422, 503)

    @router.post(
        "/devices/{device_id}/commands",
        response_model=CommandRecord,
        status_code=201,
        responses=errors,
        summary="Command an actuator (refused with 409 and the reason when an interlock says no)",
    )
    def command(device_id: str, body: CommandIn, request: Request) -> CommandRecord:
        return need_actuators(ctx).command(
            device_id,
            body.action,
            body.params,
            operator=operator_of(request),
            reason=body.reason,
            expires_in_s=body.expires_in_s,
        )

    @router.get("/commands", response_model=Page[CommandRecord], responses=errors, summary="Newest first")
    def list_commands(
        device_id: str | None = None,
        state: Annotated[list[CommandState] | None, Query(description="Only these states")] = None,
        since: TimeMs = None,
        limit: Limit = 100,
        offset: Offset = 0,
    ) -> Page[CommandRecord]:
        items, total = need_actuators(ctx).list_commands(
            device_id=device_id, states=state, since_ts=since, limit=limit, offset=offset
        )
        return Page[CommandRecord](items=items, total=total, limit=limit, offset=offset)

    @router.get("/commands/{correlation_id}", response_model=CommandDetail, responses=errors)
    def get_command(correlation_id: str) -> CommandDetail:
        return need_actuators(ctx).get_command(correlation_id)

    @router.get("/actuators", response_model=list[ActuatorView], responses=errors)
    def actuators() -> list[ActuatorView]:
        return need_actuators(ctx).actuators()

    @router.get(
        "/actuators/suspects",
        response_model=dict[str, str],
        responses=errors,
        summary="Devices a failed closed-loop check marked suspect (actuators or sensors), with why",
    )
    def suspects() -> dict[str, str]:
        return need_actuators(ctx).suspects()

    return router


async def _actuator_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ActuatorError)
    path = request.url.path
    if isinstance(exc, UnknownActuator | CommandNotFound):
        return problem_response(404, str(exc), path)
    if isinstance(exc, CommandRefused):
        return problem_response(409, f"{exc} (recorded as command {exc.record.correlation_id})", path)
    if isinstance(exc, CommandInvalid):
        return problem_response(
            422, str(exc), path, errors=[FieldError(location="body", field=exc.field, message=str(exc))]
        )
    return problem_response(422, str(exc), path)


def install_actuator_problems(app: FastAPI) -> None:
    """Make the actuator side's errors problem+json responses."""
    app.add_exception_handler(ActuatorError, _actuator_error)
