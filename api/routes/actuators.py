"""Commands to actuators by people, every command's life, and each actuator's state and suspect flag."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, FastAPI, HTTPException, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from actuators.errors import ActuatorError, CommandInvalid, CommandNotFound, CommandRefused, UnknownActuator
from actuators.records import ActuatorView, CommandDetail, CommandRecord, CommandState
from actuators.service import ActuatorService
from api.auth import operator_of, scope_of
from api.context import ApiContext
from api.params import Limit, Offset, TimeMs
from api.problems import problem_response
from api.schemas import FieldError, Page, problem_responses

WEEK_S = 7 * 86_400


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
    max_on_s: float | None = Field(
        None,
        gt=0,
        le=WEEK_S,
        description="Stop the device after it ran this long, seconds (else its driver's)",
    )


def need_actuators(ctx: ApiContext) -> ActuatorService:
    if ctx.actuators is None:
        raise HTTPException(503, "actuators are not running in this SafeTwin process")
    return ctx.actuators


def _sees(ctx: ApiContext, request: Request, device_id: str) -> bool:
    """Whether the caller's scope holds the device (an unknown device is nobody's)."""
    scope = scope_of(request)
    place = ctx.twin.device(device_id)
    return scope.everything or (place is not None and scope.sees_place(place.site, place.building))


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
        if not _sees(ctx, request, device_id):  # answered word for word as for a device that is not there
            kinds = sorted(need_actuators(ctx).manager.drivers)
            raise UnknownActuator(
                f"device {device_id!r} is not in the twin; commandable kinds: {kinds}", device_id=device_id
            )
        return need_actuators(ctx).command(
            device_id,
            body.action,
            body.params,
            operator=operator_of(request),
            reason=body.reason,
            expires_in_s=body.expires_in_s,
            max_on_s=body.max_on_s,
        )

    @router.get("/commands", response_model=Page[CommandRecord], responses=errors, summary="Newest first")
    def list_commands(
        request: Request,
        device_id: str | None = None,
        state: Annotated[list[CommandState] | None, Query(description="Only these states")] = None,
        since: TimeMs = None,
        limit: Limit = 100,
        offset: Offset = 0,
    ) -> Page[CommandRecord]:
        if not scope_of(request).everything:
            found, _ = need_actuators(ctx).list_commands(
                device_id=device_id, states=state, since_ts=since, limit=1 << 30, offset=0
            )
            mine = [c for c in found if _sees(ctx, request, c.device_id)]
            return Page[CommandRecord](
                items=mine[offset : offset + limit], total=len(mine), limit=limit, offset=offset
            )
        items, total = need_actuators(ctx).list_commands(
            device_id=device_id, states=state, since_ts=since, limit=limit, offset=offset
        )
        return Page[CommandRecord](items=items, total=total, limit=limit, offset=offset)

    @router.get("/commands/{correlation_id}", response_model=CommandDetail, responses=errors)
    def get_command(correlation_id: str, request: Request) -> CommandDetail:
        detail = need_actuators(ctx).get_command(correlation_id)
        if not _sees(ctx, request, detail.device_id):
            raise CommandNotFound(f"no command with correlation id {correlation_id!r}")
        return detail

    @router.get("/actuators", response_model=list[ActuatorView], responses=errors)
    def actuators(request: Request) -> list[ActuatorView]:
        return [a for a in need_actuators(ctx).actuators() if _sees(ctx, request, a.device_id)]

    @router.get(
        "/actuators/suspects",
        response_model=dict[str, str],
        responses=errors,
        summary="Devices a failed closed-loop check marked suspect (actuators or sensors), with why",
    )
    def suspects(request: Request) -> dict[str, str]:
        return {d: why for d, why in need_actuators(ctx).suspects().items() if _sees(ctx, request, d)}

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
