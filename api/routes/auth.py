"""Logging in and out, and who the caller is."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request
from starlette.concurrency import run_in_threadpool

from accounts.models import LoginIn, LoginOut, Me
from accounts.service import AccountService, me_of
from api.auth import CurrentPrincipal, client_ip
from api.context import ApiContext
from api.schemas import problem_responses


def need_accounts(ctx: ApiContext) -> AccountService:
    """The account service, or a 503 that says it is not configured."""
    if ctx.accounts is None:
        raise HTTPException(503, "accounts are not configured in this SafeTwin process")
    return ctx.accounts


def auth_router(ctx: ApiContext) -> APIRouter:
    """Routes under /auth: login, logout, me."""
    router = APIRouter(tags=["accounts"])

    @router.post(
        "/auth/login",
        response_model=LoginOut,
        summary="Log in with a user name and password; answers a bearer token",
        responses=problem_responses(401, 422, 429),
    )
    async def login(body: LoginIn, request: Request) -> LoginOut:
        request.state.login_user = body.username
        session = await run_in_threadpool(
            need_accounts(ctx).login, body.username, body.password, client_ip(request)
        )
        return LoginOut(token=session.token, expires_ts=session.expires_ts, user=me_of(session.principal))

    @router.post("/auth/logout", status_code=204, summary="End this token's session")
    async def logout(principal: CurrentPrincipal) -> None:
        await run_in_threadpool(need_accounts(ctx).logout, principal)

    @router.get("/auth/me", response_model=Me, summary="Who the caller is: role, permissions, scope")
    async def me(principal: CurrentPrincipal) -> Me:
        return me_of(principal)

    return router
