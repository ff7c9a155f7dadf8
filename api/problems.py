"""Every API error as RFC 9457 `application/problem+json`, with a detail a person can act on."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from alarms.errors import AlarmError, InvalidRequest, InvalidTransition, NotFound
from api.schemas import PROBLEM_JSON, FieldError, Problem
from core.errors import StoreError
from rules.catalog import RuleConflict, RuleInvalid, RuleNotFound
from rules.errors import RuleOverrideError

log = logging.getLogger(__name__)

_WHERE = {"query": "query parameter", "path": "path parameter", "body": "body field", "header": "header"}


def problem_response(
    status: int,
    detail: str,
    instance: str,
    *,
    errors: list[FieldError] | None = None,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    """A problem+json response; `title` is the status phrase, as RFC 9457 asks for type about:blank."""
    body = Problem(
        title=HTTPStatus(status).phrase, status=status, detail=detail, instance=instance, errors=errors
    )
    return JSONResponse(
        body.model_dump(exclude_none=True), status_code=status, headers=headers, media_type=PROBLEM_JSON
    )


def field_errors(raw: Sequence[Any]) -> list[FieldError]:
    """Pydantic/FastAPI error dicts as `FieldError`s naming where and which input was wrong."""
    out: list[FieldError] = []
    for err in raw:
        loc = [str(p) for p in err.get("loc", ())]
        location = loc[0] if loc and loc[0] in _WHERE else "body"
        name = ".".join(loc[1:] if loc and loc[0] in _WHERE else loc) or "(request)"
        message = str(err.get("msg", "invalid")).removeprefix("Value error, ")
        got = err.get("input")
        if isinstance(got, str | int | float) and err.get("type") != "missing":
            message += f" (got {got!r})"
        out.append(FieldError(location=location, field=name, message=message))
    return out


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    detail = exc.detail if isinstance(exc.detail, str) else HTTPStatus(exc.status_code).description
    if exc.status_code == 404 and detail == "Not Found":
        detail = f"there is no API endpoint at {request.url.path}; the endpoints are listed at /api/v1/docs"
    elif exc.status_code == 405 and detail == "Method Not Allowed":
        allowed = (exc.headers or {}).get("allow", (exc.headers or {}).get("Allow", ""))
        detail = f"{request.method} is not allowed on {request.url.path}; use {allowed or 'another method'}"
    return problem_response(exc.status_code, detail, request.url.path, headers=exc.headers)


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = field_errors(exc.errors())
    detail = "; ".join(f"{_WHERE.get(e.location, e.location)} '{e.field}': {e.message}" for e in errors)
    return problem_response(422, detail or "the request is not valid", request.url.path, errors=errors)


async def _store_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StoreError)
    log.warning("history query for %s failed: %s", request.url.path, exc)
    detail = (
        f"the history store is not available ({exc}); live values still work, and readings are kept "
        "until the store is back; try again shortly or check the history store"
    )
    return problem_response(503, detail, request.url.path, headers={"Retry-After": "5"})


async def _alarm_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, AlarmError)
    if isinstance(exc, NotFound):
        return problem_response(404, str(exc), request.url.path)
    if isinstance(exc, InvalidTransition):
        return problem_response(409, str(exc), request.url.path)
    errors = (
        [FieldError(location="body", field=exc.field, message=str(exc))]
        if isinstance(exc, InvalidRequest)
        else None
    )
    return problem_response(422, str(exc), request.url.path, errors=errors)


async def _rule_error(request: Request, exc: Exception) -> JSONResponse:
    status = 404 if isinstance(exc, RuleNotFound) else 409 if isinstance(exc, RuleConflict) else 422
    return problem_response(status, str(exc), request.url.path)


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.error("%s %s failed", request.method, request.url.path, exc_info=exc)
    return problem_response(
        500, "an unexpected error occurred; the server log has the details", request.url.path
    )


def install_problem_handlers(app: FastAPI) -> None:
    """Make every error of `app` a problem+json response."""
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StoreError, _store_error)
    app.add_exception_handler(AlarmError, _alarm_error)
    for rule_error in (RuleNotFound, RuleConflict, RuleInvalid, RuleOverrideError):
        app.add_exception_handler(rule_error, _rule_error)
    app.add_exception_handler(Exception, _unexpected)
