"""Alarms, shelving, places' worst alarm, notifications: what operators watch and act on.

Every action is recorded in the alarm's history under the authenticated user's name; a scoped user
sees, and may act on, only the alarms of places in their scope (others answer 404 as if absent).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request
from pydantic import BaseModel, BeforeValidator, Field

from actuators.response import Notification
from alarms.errors import NotFound
from alarms.manager import AlarmManager
from alarms.places import WorstByPlace, worst_by_place
from api.auth import operator_of, scope_of
from api.context import ApiContext
from api.params import Limit, Offset, parse_time
from api.schemas import Page, problem_responses
from core.alarms import Alarm, AlarmEvent, AlarmState


class _Act(BaseModel):
    user: str | None = Field(
        None, max_length=100, description="Ignored: the authenticated user is recorded in the history"
    )


class AckIn(_Act):
    note: str | None = Field(None, max_length=2000, description="Why, or what is being done")


class AssignIn(_Act):
    assignee: str = Field(min_length=1, max_length=100, description="Person who takes the alarm")


class CommentIn(_Act):
    text: str = Field(min_length=1, max_length=4000, description="The comment")


class ShelveIn(_Act):
    target: str = Field(min_length=1, description="An alarm id, or a source (device / space) id")
    until: Annotated[int, BeforeValidator(parse_time)] = Field(
        description="End of the window: epoch ms or ISO 8601 with a zone"
    )
    reason: str = Field(min_length=1, max_length=500, description="Why (maintenance, known fault, ...)")


class ShelfOut(BaseModel):
    source_id: str
    until_ts: int
    reason: str
    user: str


def need_alarms(ctx: ApiContext) -> AlarmManager:
    if ctx.alarms is None:
        raise HTTPException(503, "alarms are not running in this SafeTwin process")
    return ctx.alarms


def visible_alarm(ctx: ApiContext, request: Request, alarm_id: str) -> Alarm:
    """The alarm, or NotFound (as for an unknown id) when it is outside the caller's scope."""
    alarm = need_alarms(ctx).get_alarm(alarm_id)
    if not scope_of(request).sees_place(alarm.site, alarm.building):
        raise NotFound("alarm", alarm_id)
    return alarm


def _visible_alarms(
    ctx: ApiContext,
    request: Request,
    states: list[AlarmState] | None = None,
    site: str | None = None,
    party: str | None = None,
    source: str | None = None,
) -> list[Alarm]:
    """Every alarm in memory matching the filters that the caller sees, newest first."""
    items, _ = need_alarms(ctx).list_alarms(
        states=states, site=site, party_id=party, source_id=source, limit=1 << 30
    )
    scope = scope_of(request)
    return [a for a in items if scope.sees_place(a.site, a.building)]


def _check_target(ctx: ApiContext, request: Request, target: str) -> None:
    """NotFound for a shelve target (alarm, device or space id) outside the caller's scope."""
    scope = scope_of(request)
    if scope.everything:
        return
    place = ctx.twin.device(target)
    if place is not None:
        where: tuple[str, str] | None = (place.site, place.building)
    elif target in ctx.twin.place_of_space:
        where = ctx.twin.place_of_space[target][:2]
    else:
        try:
            alarm = need_alarms(ctx).get_alarm(target)
            where = (alarm.site, alarm.building)
        except NotFound:
            where = None
    if where is None or not scope.sees_place(*where):
        raise NotFound("alarm or source", target)


def _sees_target(ctx: ApiContext, request: Request, target: str) -> bool:
    try:
        _check_target(ctx, request, target)
    except NotFound:
        return False
    return True


def alarms_router(ctx: ApiContext) -> APIRouter:
    """Routes under /alarms, /shelves, /places/worst and /notifications."""
    router = APIRouter(tags=["alarms"])
    errors = problem_responses(404, 409, 422, 503)

    @router.get("/alarms", response_model=Page[Alarm], summary="Alarms, newest first", responses=errors)
    def list_alarms(
        request: Request,
        state: Annotated[list[AlarmState] | None, Query(description="Only these states")] = None,
        site: str | None = None,
        party: str | None = None,
        source: str | None = None,
        limit: Limit = 100,
        offset: Offset = 0,
    ) -> Page[Alarm]:
        if not scope_of(request).everything:
            found = _visible_alarms(ctx, request, state, site, party, source)
            return Page[Alarm](
                items=found[offset : offset + limit], total=len(found), limit=limit, offset=offset
            )
        items, total = need_alarms(ctx).list_alarms(
            states=state, site=site, party_id=party, source_id=source, limit=limit, offset=offset
        )
        return Page[Alarm](items=items, total=total, limit=limit, offset=offset)

    @router.get("/alarms/{alarm_id}", response_model=Alarm, summary="One alarm", responses=errors)
    def get_alarm(alarm_id: str, request: Request) -> Alarm:
        return visible_alarm(ctx, request, alarm_id)

    @router.get(
        "/alarms/{alarm_id}/history",
        response_model=list[AlarmEvent],
        responses=errors,
        summary="Every transition and action on an alarm: who, when, why",
    )
    def history(alarm_id: str, request: Request) -> list[AlarmEvent]:
        visible_alarm(ctx, request, alarm_id)
        return need_alarms(ctx).alarm_history(alarm_id)

    @router.post("/alarms/{alarm_id}/acknowledge", response_model=Alarm, responses=errors)
    def acknowledge(alarm_id: str, body: AckIn, request: Request) -> Alarm:
        visible_alarm(ctx, request, alarm_id)
        return need_alarms(ctx).acknowledge(alarm_id, operator_of(request), body.note)

    @router.post("/alarms/{alarm_id}/assign", response_model=Alarm, responses=errors)
    def assign(alarm_id: str, body: AssignIn, request: Request) -> Alarm:
        visible_alarm(ctx, request, alarm_id)
        return need_alarms(ctx).assign(alarm_id, operator_of(request), body.assignee)

    @router.post("/alarms/{alarm_id}/comments", response_model=AlarmEvent, status_code=201, responses=errors)
    def comment(alarm_id: str, body: CommentIn, request: Request) -> AlarmEvent:
        visible_alarm(ctx, request, alarm_id)
        return need_alarms(ctx).comment(alarm_id, operator_of(request), body.text)

    _add_place_routes(router, ctx, errors)
    return router


def _add_place_routes(router: APIRouter, ctx: ApiContext, errors: dict[int | str, dict[str, Any]]) -> None:
    """Shelves, worst alarm per place, notifications."""

    @router.get("/shelves", response_model=list[ShelfOut], summary="Maintenance windows in force")
    def shelves(request: Request) -> list[ShelfOut]:
        out = [
            ShelfOut(source_id=k, until_ts=v.until_ts, reason=v.reason, user=v.user)
            for k, v in need_alarms(ctx).shelves().items()
        ]
        return [o for o in out if _sees_target(ctx, request, o.source_id)]

    @router.post(
        "/shelves",
        response_model=list[Alarm],
        status_code=201,
        responses=errors,
        summary="Silence an alarm or a source until a time: recorded, not announced",
    )
    def shelve(body: ShelveIn, request: Request) -> list[Alarm]:
        _check_target(ctx, request, body.target)
        return need_alarms(ctx).shelve(body.target, body.until, body.reason, operator_of(request))

    @router.delete("/shelves/{target}", response_model=list[Alarm], responses=errors)
    def unshelve(
        target: str,
        request: Request,
        user: Annotated[str | None, Query(description="Ignored: the authenticated user is recorded")] = None,
    ) -> list[Alarm]:
        _check_target(ctx, request, target)
        return need_alarms(ctx).unshelve(target, operator_of(request))

    @router.get(
        "/places/worst",
        response_model=WorstByPlace,
        summary="Worst active alarm and count per site, building, floor and space",
    )
    def worst(request: Request) -> WorstByPlace:
        scope = scope_of(request)
        if scope.everything:
            return need_alarms(ctx).worst_by_place()
        mine = [a for a in need_alarms(ctx).open_alarms() if scope.sees_place(a.site, a.building)]
        return worst_by_place(ctx.twin, mine)

    @router.get("/notifications", response_model=list[Notification], summary="Recent notifications")
    def notifications(request: Request, limit: Limit = 100) -> list[Notification]:
        if ctx.notifications is None:
            return []
        if scope_of(request).everything:
            return ctx.notifications(limit)
        mine = {a.id for a in _visible_alarms(ctx, request)} if ctx.alarms is not None else set()
        return [n for n in ctx.notifications(1 << 30) if n.alarm_id in mine][:limit]
