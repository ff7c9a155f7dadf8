"""Rules: the set in force (packs and API edits), every version, create / edit / delete, and a
facility manager's building override within the administrator's bounds."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, Request
from pydantic import BaseModel, Field

from api.auth import operator_of, scope_of
from api.context import ApiContext
from api.schemas import problem_responses
from rules.catalog import RuleCatalog


class RuleOut(BaseModel):
    rule: dict[str, Any] = Field(description="The rule as YAML/JSON data, with its id and version")
    source: str = Field(description="'pack' (shipped) or 'api' (created or edited through the API)")


class RuleIn(BaseModel):
    user: str | None = Field(
        None, max_length=100, description="Ignored: the authenticated user is kept with the version"
    )
    rule: dict[str, Any] = Field(description="The whole rule; see docs/rules.md for each kind's fields")


class OverrideIn(BaseModel):
    user: str | None = Field(None, max_length=100, description="Ignored: the authenticated user is recorded")
    building_id: str = Field(description="The building the tighter levels apply to")
    levels: dict[str, float | dict[str, float]] = Field(
        description="Severity -> new trigger, or {'trigger': .., 'clear': ..}; must stay within the bounds"
    )


def _catalog(ctx: ApiContext) -> RuleCatalog:
    if ctx.rules is None:
        raise HTTPException(503, "rules are not running in this SafeTwin process")
    return ctx.rules


def rules_router(ctx: ApiContext) -> APIRouter:
    """Routes under /rules."""
    router = APIRouter(tags=["rules"])
    errors = problem_responses(404, 409, 422, 503)

    @router.get("/rules", response_model=list[RuleOut], summary="Rules in force")
    def list_rules() -> list[RuleOut]:
        return [RuleOut(rule=r.to_dict(), source=src) for r, src in _catalog(ctx).all()]

    @router.get("/rules/{rule_id}", response_model=RuleOut, responses=errors)
    def get_rule(rule_id: str) -> RuleOut:
        rule, src = _catalog(ctx).get(rule_id)
        return RuleOut(rule=rule.to_dict(), source=src)

    @router.get("/rules/{rule_id}/versions", responses=errors, summary="Every version, oldest first")
    async def versions(rule_id: str) -> list[dict[str, Any]]:
        return await _catalog(ctx).versions(rule_id)

    @router.post("/rules", response_model=RuleOut, status_code=201, responses=errors)
    async def create(body: RuleIn, request: Request) -> RuleOut:
        rule = await _catalog(ctx).create(body.rule, operator_of(request))
        return RuleOut(rule=rule.to_dict(), source="api")

    @router.put("/rules/{rule_id}", response_model=RuleOut, responses=errors, summary="A new version")
    async def update(rule_id: str, body: RuleIn, request: Request) -> RuleOut:
        rule = await _catalog(ctx).update(rule_id, body.rule, operator_of(request))
        return RuleOut(rule=rule.to_dict(), source="api")

    @router.delete("/rules/{rule_id}", status_code=204, responses=errors)
    async def delete(rule_id: str, request: Request, user: str | None = None) -> None:
        await _catalog(ctx).delete(rule_id, operator_of(request))

    @router.post(
        "/rules/{rule_id}/overrides",
        response_model=RuleOut,
        status_code=201,
        responses=errors,
        summary="Tighter levels for one building, within the bounds the administrator set",
    )
    async def building_override(rule_id: str, body: OverrideIn, request: Request) -> RuleOut:
        if not scope_of(request).sees_building(body.building_id):
            raise HTTPException(404, f"building '{body.building_id}' is not in the twin")
        who = operator_of(request)
        rule = await _catalog(ctx).override_for_building(rule_id, body.building_id, body.levels, who)
        return RuleOut(rule=rule.to_dict(), source="api")

    return router
