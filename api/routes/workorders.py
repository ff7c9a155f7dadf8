"""Work orders through every step, parties' credit scores and supervision lists, and KPIs."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, Field

from alarms.credit import PartyCredit
from alarms.errors import NotFound
from alarms.kpi import Kpis
from api.auth import operator_of, scope_of
from api.context import ApiContext
from api.params import Limit, Offset, TimeMs
from api.routes.alarms import need_alarms
from api.schemas import Page, problem_responses
from core.alarms import CreditEvent, WorkOrder, WorkOrderState, WorkOrderStep
from core.contract import now_ms

DAY_MS = 86_400_000


class StepIn(BaseModel):
    user: str | None = Field(
        None, max_length=100, description="Ignored: the authenticated user is recorded on the step"
    )
    note: str | None = Field(None, max_length=4000, description="What was done, or why")


class AssignIn(StepIn):
    assignee: str = Field(min_length=1, max_length=100, description="Person who takes the order")


class TransferIn(AssignIn):
    party_id: str | None = Field(None, description="Hand the order to another responsible party")


class HandleIn(StepIn):
    note: str = Field(min_length=1, max_length=4000, description="What was done to remove the hazard")
    photos: list[str] = Field(default_factory=list, max_length=20, description="Photo references")


class VerifyIn(StepIn):
    ok: bool = Field(description="The fix holds (closes the order); false sends it back to the assignee")


def visible_order(ctx: ApiContext, request: Request, order_id: str) -> WorkOrder:
    """The work order, or NotFound (as for an unknown id) when it is outside the caller's scope."""
    order = need_alarms(ctx).get_work_order(order_id)
    if not scope_of(request).sees_place(order.site, order.building):
        raise NotFound("work order", order_id)
    return order


def workorders_router(ctx: ApiContext) -> APIRouter:
    """Routes under /work-orders."""
    router = APIRouter(tags=["work orders"])
    errors = problem_responses(404, 409, 422, 503)

    @router.get("/work-orders", response_model=Page[WorkOrder], responses=errors, summary="Newest first")
    def list_orders(
        request: Request,
        state: Annotated[list[WorkOrderState] | None, Query(description="Only these states")] = None,
        party: str | None = None,
        limit: Limit = 100,
        offset: Offset = 0,
    ) -> Page[WorkOrder]:
        scope = scope_of(request)
        if not scope.everything:
            found, _ = need_alarms(ctx).list_work_orders(states=state, party_id=party, limit=1 << 30)
            mine = [o for o in found if scope.sees_place(o.site, o.building)]
            return Page[WorkOrder](
                items=mine[offset : offset + limit], total=len(mine), limit=limit, offset=offset
            )
        items, total = need_alarms(ctx).list_work_orders(
            states=state, party_id=party, limit=limit, offset=offset
        )
        return Page[WorkOrder](items=items, total=total, limit=limit, offset=offset)

    @router.get("/work-orders/{order_id}", response_model=WorkOrder, responses=errors)
    def get_order(order_id: str, request: Request) -> WorkOrder:
        return visible_order(ctx, request, order_id)

    @router.get("/work-orders/{order_id}/steps", response_model=list[WorkOrderStep], responses=errors)
    def steps(order_id: str, request: Request) -> list[WorkOrderStep]:
        visible_order(ctx, request, order_id)
        return need_alarms(ctx).work_order_steps(order_id)

    @router.post("/work-orders/{order_id}/sign", response_model=WorkOrder, responses=errors)
    def sign(order_id: str, body: StepIn, request: Request) -> WorkOrder:
        visible_order(ctx, request, order_id)
        return need_alarms(ctx).sign_work_order(order_id, operator_of(request), body.note)

    @router.post("/work-orders/{order_id}/assign", response_model=WorkOrder, responses=errors)
    def assign(order_id: str, body: AssignIn, request: Request) -> WorkOrder:
        visible_order(ctx, request, order_id)
        return need_alarms(ctx).assign_work_order(order_id, operator_of(request), body.assignee, body.note)

    @router.post("/work-orders/{order_id}/transfer", response_model=WorkOrder, responses=errors)
    def transfer(order_id: str, body: TransferIn, request: Request) -> WorkOrder:
        visible_order(ctx, request, order_id)
        return need_alarms(ctx).transfer_work_order(
            order_id, operator_of(request), body.assignee, body.party_id, body.note
        )

    @router.post("/work-orders/{order_id}/handle", response_model=WorkOrder, responses=errors)
    def handle(order_id: str, body: HandleIn, request: Request) -> WorkOrder:
        visible_order(ctx, request, order_id)
        return need_alarms(ctx).handle_work_order(order_id, operator_of(request), body.note, body.photos)

    @router.post("/work-orders/{order_id}/verify", response_model=WorkOrder, responses=errors)
    def verify(order_id: str, body: VerifyIn, request: Request) -> WorkOrder:
        visible_order(ctx, request, order_id)
        return need_alarms(ctx).verify_work_order(order_id, operator_of(request), body.ok, body.note)

    @router.post("/work-orders/{order_id}/close", response_model=WorkOrder, responses=errors)
    def close(order_id: str, body: StepIn, request: Request) -> WorkOrder:
        visible_order(ctx, request, order_id)
        return need_alarms(ctx).close_work_order(order_id, operator_of(request), body.note)

    return router


def parties_router(ctx: ApiContext) -> APIRouter:
    """Routes under /parties and /kpis."""
    router = APIRouter(tags=["parties and KPIs"])
    errors = problem_responses(404, 422, 503)

    @router.get("/parties/credit", response_model=list[PartyCredit], summary="Every party's credit score")
    def credit() -> list[PartyCredit]:
        return need_alarms(ctx).credit_scores()

    @router.get(
        "/parties/key-supervision",
        response_model=list[PartyCredit],
        summary="Parties below the key-supervision score (more inspections)",
    )
    def key_supervision() -> list[PartyCredit]:
        return need_alarms(ctx).key_supervision()

    @router.get(
        "/parties/training-required",
        response_model=list[PartyCredit],
        summary="Parties below the training score (mandatory training and interview)",
    )
    def training() -> list[PartyCredit]:
        return need_alarms(ctx).training_required()

    @router.get("/parties/{party_id}/credit-history", response_model=list[CreditEvent], responses=errors)
    def credit_history(party_id: str) -> list[CreditEvent]:
        return need_alarms(ctx).credit_history(party_id)

    @router.get(
        "/kpis",
        response_model=Kpis,
        responses=errors,
        summary="Closure rate, mean times to acknowledge and close, overdue orders, by type/site/party",
    )
    def kpis(since: TimeMs = None, until: TimeMs = None) -> Kpis:
        end = until if until is not None else now_ms() + 1
        start = since if since is not None else end - 30 * DAY_MS
        return need_alarms(ctx).kpis(start, end)

    return router
