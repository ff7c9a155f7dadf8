"""Alarms, shelving, places' worst alarm, notifications: what operators watch and act on.

People's names come in the request body (`user`) until accounts arrive; every action is recorded
in the alarm's history with that name.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Query
from pydantic import BaseModel, BeforeValidator, Field

from actuators.response import Notification
from alarms.manager import AlarmManager
from alarms.places import WorstByPlace
from api.context import ApiContext
from api.params import Limit, Offset, parse_time
from api.schemas import Page, problem_responses
from core.alarms import Alarm, AlarmEvent, AlarmState


class _Act(BaseModel):
    user: str = Field(min_length=1, max_length=100, description="Who does it (recorded in the history)")


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


def alarms_router(ctx: ApiContext) -> APIRouter:
    """Routes under /alarms, /shelves, /places/worst and /notifications."""
    router = APIRouter(tags=["alarms"])
    errors = problem_responses(404, 409, 422, 503)

    @router.get("/alarms", response_model=Page[Alarm], summary="Alarms, newest first", responses=errors)
    def list_alarms(
        state: Annotated[list[AlarmState] | None, Query(description="Only these states")] = None,
        site: str | None = None,
        party: str | None = None,
        source: str | None = None,
        limit: Limit = 100,
        offset: Offset = 0,
    ) -> Page[Alarm]:
        items, total = need_alarms(ctx).list_alarms(
            states=state, site=site, party_id=party, source_id=source, limit=limit, offset=offset
        )
        return Page[Alarm](items=items, total=total, limit=limit, offset=offset)

    @router.get("/alarms/{alarm_id}", response_model=Alarm, summary="One alarm", responses=errors)
    def get_alarm(alarm_id: str) -> Alarm:
        return need_alarms(ctx).get_alarm(alarm_id)

    @router.get(
        "/alarms/{alarm_id}/history",
        response_model=list[AlarmEvent],
        responses=errors,
        summary="Every transition and action on an alarm: who, when, why",
    )
    def history(alarm_id: str) -> list[AlarmEvent]:
        return need_alarms(ctx).alarm_history(alarm_id)

    @router.post("/alarms/{alarm_id}/acknowledge", response_model=Alarm, responses=errors)
    def acknowledge(alarm_id: str, body: AckIn) -> Alarm:
        return need_alarms(ctx).acknowledge(alarm_id, body.user, body.note)

    @router.post("/alarms/{alarm_id}/assign", response_model=Alarm, responses=errors)
    def assign(alarm_id: str, body: AssignIn) -> Alarm:
        return need_alarms(ctx).assign(alarm_id, body.user, body.assignee)

    @router.post("/alarms/{alarm_id}/comments", response_model=AlarmEvent, status_code=201, responses=errors)
    def comment(alarm_id: str, body: CommentIn) -> AlarmEvent:
        return need_alarms(ctx).comment(alarm_id, body.user, body.text)

    @router.get("/shelves", response_model=list[ShelfOut], summary="Maintenance windows in force")
    def shelves() -> list[ShelfOut]:
        return [
            ShelfOut(source_id=k, until_ts=v.until_ts, reason=v.reason, user=v.user)
            for k, v in need_alarms(ctx).shelves().items()
        ]

    @router.post(
        "/shelves",
        response_model=list[Alarm],
        status_code=201,
        responses=errors,
        summary="Silence an alarm or a source until a time: recorded, not announced",
    )
    def shelve(body: ShelveIn) -> list[Alarm]:
        return need_alarms(ctx).shelve(body.target, body.until, body.reason, body.user)

    @router.delete("/shelves/{target}", response_model=list[Alarm], responses=errors)
    def unshelve(target: str, user: Annotated[str, Query(min_length=1)]) -> list[Alarm]:
        return need_alarms(ctx).unshelve(target, user)

    @router.get(
        "/places/worst",
        response_model=WorstByPlace,
        summary="Worst active alarm and count per site, building, floor and space",
    )
    def worst() -> WorstByPlace:
        return need_alarms(ctx).worst_by_place()

    @router.get("/notifications", response_model=list[Notification], summary="Recent notifications")
    def notifications(limit: Limit = 100) -> list[Notification]:
        return ctx.notifications(limit) if ctx.notifications is not None else []

    return router
