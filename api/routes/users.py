"""Users and API keys: the administrator's account management."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool

from accounts.models import ApiKey, ApiKeyCreated, ApiKeyIn, User, UserIn, UserUpdate
from api.auth import CurrentPrincipal
from api.context import ApiContext
from api.params import Limit, Offset
from api.routes.auth import need_accounts
from api.schemas import Page, problem_responses


def users_router(ctx: ApiContext) -> APIRouter:
    """Routes under /users and /api-keys (administrators only)."""
    router = APIRouter(tags=["accounts"], responses=problem_responses(404, 409, 422))

    @router.get("/users", response_model=Page[User], summary="Users by name")
    async def list_users(limit: Limit = 100, offset: Offset = 0) -> Page[User]:
        items, total = await run_in_threadpool(need_accounts(ctx).store.users, limit, offset)
        return Page[User](items=items, total=total, limit=limit, offset=offset)

    @router.post("/users", response_model=User, status_code=201, summary="Add a user")
    async def create_user(body: UserIn) -> User:
        return await run_in_threadpool(need_accounts(ctx).create_user, body)

    @router.get("/users/{username}", response_model=User, summary="One user")
    async def get_user(username: str) -> User:
        return await run_in_threadpool(need_accounts(ctx).get_user, username)

    @router.patch("/users/{username}", response_model=User, summary="Change a user's role, scope or password")
    async def update_user(username: str, body: UserUpdate) -> User:
        return await run_in_threadpool(need_accounts(ctx).update_user, username, body)

    @router.delete("/users/{username}", status_code=204, summary="Remove a user and end their sessions")
    async def delete_user(username: str) -> None:
        await run_in_threadpool(need_accounts(ctx).delete_user, username)

    @router.get("/api-keys", response_model=Page[ApiKey], summary="API keys (never the keys themselves)")
    async def list_keys(limit: Limit = 100, offset: Offset = 0) -> Page[ApiKey]:
        items, total = await run_in_threadpool(need_accounts(ctx).store.keys, limit, offset)
        return Page[ApiKey](items=items, total=total, limit=limit, offset=offset)

    @router.post(
        "/api-keys",
        response_model=ApiKeyCreated,
        status_code=201,
        summary="Make an API key; the answer holds the key, shown this once",
    )
    async def create_key(body: ApiKeyIn, principal: CurrentPrincipal) -> ApiKeyCreated:
        return await run_in_threadpool(need_accounts(ctx).create_key, body, principal.name)

    @router.delete("/api-keys/{key_id}", response_model=ApiKey, summary="Revoke an API key")
    async def revoke_key(key_id: str) -> ApiKey:
        return await run_in_threadpool(need_accounts(ctx).revoke_key, key_id)

    return router
