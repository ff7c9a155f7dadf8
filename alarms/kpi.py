"""KPIs for the operations centre, computed from alarm and work-order records of a period.

Pure functions over lists, so they run the same on the manager's memory and on lists from the store.
An alarm belongs to the period in which it was raised (`created_ts`); a work order to the one in
which it was created.  Times are measured from when the alarm became active (or was raised, if it
never did) because that is when people were told.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from statistics import fmean

from pydantic import BaseModel, ConfigDict, Field

from alarms.ports import OpsStore
from core.alarms import Alarm, AlarmState, Grade, WorkOrder, WorkOrderState

NO_PARTY = "unassigned"
PAGE = 1000


class Kpis(BaseModel):
    """Operations-centre figures for one period."""

    model_config = ConfigDict(frozen=True)

    since_ts: int = Field(description="Start of the period, epoch ms (inclusive)")
    until_ts: int = Field(description="End of the period, epoch ms (exclusive)")
    alarms: int = Field(description="Alarms raised in the period")
    alarms_closed: int = Field(description="Of those, cleared (closed) by now")
    closure_rate: float | None = Field(description="alarms_closed / alarms, 0..1; None without alarms")
    auto_closed_hazards: int = Field(
        description="General hazards cleared before their deadline: closed by re-detection, no work order"
    )
    acknowledged: int = Field(description="Alarms of the period acknowledged by someone")
    mean_time_to_acknowledge_s: float | None = Field(description="From active (else raised) to ack, seconds")
    mean_time_to_close_s: float | None = Field(description="From active (else raised) to cleared, seconds")
    work_orders: int = Field(description="Work orders created in the period")
    work_orders_closed: int = Field(description="Of those, closed by now")
    work_order_closure_rate: float | None = Field(description="work_orders_closed / work_orders, 0..1")
    mean_work_order_close_s: float | None = Field(description="From creation to closed, seconds")
    overdue_work_orders: int = Field(description="Work orders of the period that went past their deadline")
    open_overdue_work_orders: int = Field(description="Of those, still open now")
    by_category: dict[str, int] = Field(description="Alarms of the period by rule category")
    by_site: dict[str, int] = Field(description="Alarms of the period by site id")
    by_party: dict[str, int] = Field(description=f"Alarms of the period by responsible party ('{NO_PARTY}')")
    work_orders_by_party: dict[str, int] = Field(description="Work orders of the period by party")


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def _mean_s(values: list[int]) -> float | None:
    return round(fmean(values) / 1000, 3) if values else None


def _is_overdue(order: WorkOrder, now_ms: int) -> bool:
    late_open = order.state is not WorkOrderState.CLOSED and now_ms >= order.deadline_ts
    return order.overdue or late_open


def compute_kpis(
    alarms: Iterable[Alarm], orders: Iterable[WorkOrder], *, since_ts: int, until_ts: int, now_ms: int
) -> Kpis:
    """The KPIs of [since_ts, until_ts) from these records; `now_ms` decides what is overdue now."""
    period = [a for a in alarms if since_ts <= a.created_ts < until_ts]
    wos = [o for o in orders if since_ts <= o.created_ts < until_ts]
    closed = [a for a in period if a.state is AlarmState.CLEARED and a.cleared_ts is not None]
    acked = [a for a in period if a.acknowledged_ts is not None]
    wo_closed = [o for o in wos if o.state is WorkOrderState.CLOSED and o.closed_ts is not None]
    overdue = [o for o in wos if _is_overdue(o, now_ms)]
    return Kpis(
        since_ts=since_ts,
        until_ts=until_ts,
        alarms=len(period),
        alarms_closed=len(closed),
        closure_rate=_rate(len(closed), len(period)),
        auto_closed_hazards=sum(
            1
            for a in closed
            if a.grade is Grade.GENERAL and a.deadline_ts is not None and not a.work_order_id
        ),
        acknowledged=len(acked),
        mean_time_to_acknowledge_s=_mean_s(
            [(a.acknowledged_ts or 0) - (a.active_ts or a.created_ts) for a in acked]
        ),
        mean_time_to_close_s=_mean_s([(a.cleared_ts or 0) - (a.active_ts or a.created_ts) for a in closed]),
        work_orders=len(wos),
        work_orders_closed=len(wo_closed),
        work_order_closure_rate=_rate(len(wo_closed), len(wos)),
        mean_work_order_close_s=_mean_s([(o.closed_ts or 0) - o.created_ts for o in wo_closed]),
        overdue_work_orders=len(overdue),
        open_overdue_work_orders=sum(1 for o in overdue if o.state is not WorkOrderState.CLOSED),
        by_category=dict(Counter(a.category for a in period)),
        by_site=dict(Counter(a.site for a in period)),
        by_party=dict(Counter(a.party_id or NO_PARTY for a in period)),
        work_orders_by_party=dict(Counter(o.party_id or NO_PARTY for o in wos)),
    )


def kpis_from_store(store: OpsStore, *, since_ts: int, until_ts: int, now_ms: int) -> Kpis:
    """The same KPIs over the store's records (blocking: run it off the event loop)."""
    alarms: list[Alarm] = []
    while True:
        page, total = store.list_alarms(since_ts=since_ts, limit=PAGE, offset=len(alarms))
        alarms += page
        if not page or len(alarms) >= total:
            break
    orders: list[WorkOrder] = []
    while True:
        wo_page, total = store.list_work_orders(limit=PAGE, offset=len(orders))
        orders += wo_page
        if not wo_page or len(orders) >= total:
            break
    return compute_kpis(alarms, orders, since_ts=since_ts, until_ts=until_ts, now_ms=now_ms)
