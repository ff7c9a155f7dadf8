"""Confined-space entry permits: ask, see, log entries and exits, close.

Every action is recorded with the authenticated operator's name; a caller sees the permits of the
places in its scope only.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import JSONResponse

from actuators.permit_models import (
    EntryIn,
    Permit,
    PermitConflict,
    PermitError,
    PermitInvalid,
    PermitNotFound,
    PermitRefused,
    PermitRequest,
    PermitStatus,
)
from actuators.permits import PermitManager
from api.auth import only_visible, operator_of, visible
from api.context import ApiContext
from api.params import Limit, Offset
from api.problems import problem_response
from api.schemas import PROBLEM_JSON, FieldError, Page, Problem, problem_responses


def need_permits(ctx: ApiContext) -> PermitManager:
    if ctx.permits is None:
        raise HTTPException(503, "confined-space permits are not running in this SafeTwin process")
    return ctx.permits


def _place(ctx: ApiContext, space_id: str) -> tuple[str, str]:
    site, building, _ = ctx.twin.place_of_space.get(space_id, ("", "", None))
    return site, building


def _check_visible(ctx: ApiContext, request: Request, space_id: str, missing: PermitError) -> None:
    """`missing`, as for an unknown id, when the place is outside the caller's scope."""
    if space_id in ctx.twin.place_of_space and not visible(request, *_place(ctx, space_id)):
        raise missing


def _problem(request: Request, err: PermitError) -> JSONResponse:
    """A permit error as problem+json; a refusal lists its reasons and the recorded permit."""
    path = request.url.path
    if isinstance(err, PermitRefused):
        problem = Problem(title=HTTPStatus(409).phrase, status=409, detail=str(err), instance=path)
        body: dict[str, Any] = {
            **problem.model_dump(exclude_none=True),
            "reasons": err.permit.refusals,
            "permit_id": err.permit.id,
        }
        return JSONResponse(body, status_code=409, media_type=PROBLEM_JSON)
    if isinstance(err, PermitNotFound):
        return problem_response(404, str(err), path)
    if isinstance(err, PermitInvalid):
        errors = [FieldError(location="body", field="space_id", message=str(err))]
        return problem_response(422, str(err), path, errors=errors)
    if isinstance(err, PermitConflict):
        return problem_response(409, str(err), path)
    return problem_response(400, str(err), path)


def permits_router(ctx: ApiContext) -> APIRouter:
    """Routes under /permits."""
    router = APIRouter(tags=["permits"])
    errors = problem_responses(404, 409, 422, 503)

    def _visible_permit(request: Request, permit_id: str) -> Permit:
        permit = need_permits(ctx).get(permit_id)
        _check_visible(ctx, request, permit.space_id, PermitNotFound(f"there is no permit {permit_id!r}"))
        return permit

    @router.post(
        "/permits",
        response_model=Permit,
        status_code=201,
        summary="Ask for a confined-space entry permit: granted, or refused (409) with the reasons",
        responses=errors,
    )
    def request_permit(body: PermitRequest, request: Request) -> Permit | JSONResponse:
        try:
            missing = PermitInvalid(f"there is no space {body.space_id!r} in the twin")
            _check_visible(ctx, request, body.space_id, missing)
            return need_permits(ctx).request(body, operator_of(request))
        except PermitError as err:
            return _problem(request, err)

    @router.get("/permits", response_model=Page[Permit], summary="Permits, newest first", responses=errors)
    def list_permits(
        request: Request,
        status: Annotated[PermitStatus | None, Query(description="Only this status")] = None,
        space: Annotated[str | None, Query(description="Only this space id")] = None,
        limit: Limit = 100,
        offset: Offset = 0,
    ) -> Page[Permit]:
        found = only_visible(
            request, need_permits(ctx).list(status=status, space_id=space), lambda p: _place(ctx, p.space_id)
        )
        return Page[Permit](
            items=found[offset : offset + limit], total=len(found), limit=limit, offset=offset
        )

    @router.get("/permits/{permit_id}", response_model=Permit, summary="One permit", responses=errors)
    def get_permit(permit_id: str, request: Request) -> Permit | JSONResponse:
        try:
            return _visible_permit(request, permit_id)
        except PermitError as err:
            return _problem(request, err)

    @router.post(
        "/permits/{permit_id}/entries",
        response_model=Permit,
        summary="Log an entrant going in (open permits only) or coming out",
        responses=errors,
    )
    def log_entry(permit_id: str, body: EntryIn, request: Request) -> Permit | JSONResponse:
        try:
            return need_permits(ctx).record_entry(
                permit_id, body.person, body.direction, operator_of(request)
            )
        except PermitError as err:
            return _problem(request, err)

    @router.post(
        "/permits/{permit_id}/close",
        response_model=Permit,
        summary="Close a granted or revoked permit; everyone must be out",
        responses=errors,
    )
    def close_permit(permit_id: str, request: Request) -> Permit | JSONResponse:
        try:
            _visible_permit(request, permit_id)
            return need_permits(ctx).close(permit_id, operator_of(request))
        except PermitError as err:
            return _problem(request, err)

    return router
