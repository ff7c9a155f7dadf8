"""Operations-centre KPIs on a known set of alarms and work orders."""

from __future__ import annotations

from typing import Any

from alarms.kpi import compute_kpis
from core.alarms import Alarm, AlarmState, Grade, Severity, SourceKind, WorkOrder, WorkOrderState
from tests.alarms.support import HOUR, MIN, T0, fire, manager, resolve


def alarm(i: int, **kw: Any) -> Alarm:
    base: dict[str, Any] = {
        "id": f"al-{i}",
        "rule_id": "r",
        "rule_version": 1,
        "rule_name": "r",
        "category": "gas",
        "source_kind": SourceKind.DEVICE,
        "source_id": f"d-{i}",
        "site": "s1",
        "state": AlarmState.ACTIVE,
        "severity": Severity.WARNING,
        "peak_severity": Severity.WARNING,
        "grade": Grade.GENERAL,
        "message": "m",
        "created_ts": T0,
        "updated_ts": T0,
        "active_ts": T0,
        "party_id": "pm-1",
    }
    return Alarm(**{**base, **kw})


def order(i: int, **kw: Any) -> WorkOrder:
    base: dict[str, Any] = {
        "id": f"wo-{i}",
        "alarm_id": f"al-{i}",
        "title": "t",
        "category": "gas",
        "severity": Severity.ALARM,
        "site": "s1",
        "party_id": "pm-1",
        "state": WorkOrderState.ASSIGNED,
        "created_ts": T0,
        "deadline_ts": T0 + 4 * HOUR,
    }
    return WorkOrder(**{**base, **kw})


ALARMS = [
    # cleared in 10 min, acked after 2 min, auto-closed (deadline, no order)
    alarm(
        1,
        state=AlarmState.CLEARED,
        cleared_ts=T0 + 10 * MIN,
        acknowledged_ts=T0 + 2 * MIN,
        deadline_ts=T0 + 15 * MIN,
    ),
    # cleared after 30 min with a work order; acked after 4 min
    alarm(
        2,
        state=AlarmState.CLEARED,
        cleared_ts=T0 + 30 * MIN,
        acknowledged_ts=T0 + 4 * MIN,
        deadline_ts=T0 + 15 * MIN,
        work_order_id="wo-2",
        category="camera",
        site="s2",
        party_id="pm-2",
    ),
    # still active, never acked, no party
    alarm(3, category="camera", party_id=None),
    # pending since T0 + 1h, never active: times count from when it was raised
    alarm(
        4,
        state=AlarmState.PENDING,
        created_ts=T0 + HOUR,
        active_ts=None,
        acknowledged_ts=T0 + HOUR + 6 * MIN,
    ),
    # outside the period
    alarm(5, created_ts=T0 - 1),
    alarm(6, created_ts=T0 + 24 * HOUR),
]
ORDERS = [
    order(2, state=WorkOrderState.CLOSED, closed_ts=T0 + 2 * HOUR),
    order(7, overdue=True, state=WorkOrderState.CLOSED, closed_ts=T0 + 6 * HOUR, party_id="pm-2"),
    order(8, deadline_ts=T0 + 2 * HOUR),  # open and past its deadline at now, not yet marked
    order(9),  # open, in time
    order(10, created_ts=T0 - HOUR, overdue=True),  # outside the period
]


def test_kpis_on_a_known_set() -> None:
    k = compute_kpis(ALARMS, ORDERS, since_ts=T0, until_ts=T0 + 24 * HOUR, now_ms=T0 + 3 * HOUR)
    assert (k.alarms, k.alarms_closed, k.closure_rate, k.auto_closed_hazards) == (4, 2, 0.5, 1)
    assert (k.acknowledged, k.mean_time_to_acknowledge_s) == (3, 240.0)  # (2 + 4 + 6) / 3 minutes
    assert k.mean_time_to_close_s == 1200.0  # (10 + 30) / 2 minutes
    assert (k.work_orders, k.work_orders_closed, k.work_order_closure_rate) == (4, 2, 0.5)
    assert k.mean_work_order_close_s == 4 * 3600.0  # (2 h + 6 h) / 2
    assert (k.overdue_work_orders, k.open_overdue_work_orders) == (2, 1)
    assert k.by_category == {"gas": 2, "camera": 2}
    assert k.by_site == {"s1": 3, "s2": 1}
    assert k.by_party == {"pm-1": 2, "pm-2": 1, "unassigned": 1}
    assert k.work_orders_by_party == {"pm-1": 3, "pm-2": 1}


def test_empty_period_has_no_rates() -> None:
    k = compute_kpis([], [], since_ts=T0, until_ts=T0 + HOUR, now_ms=T0)
    assert (k.alarms, k.closure_rate, k.mean_time_to_acknowledge_s, k.work_order_closure_rate) == (
        0,
        None,
        None,
        None,
    )


def test_manager_kpis_from_its_own_records() -> None:
    mgr, _ = manager()
    a = mgr.on_signal(fire(Severity.WARNING, ts=T0))
    assert a is not None
    mgr.acknowledge(a.id, "op", now_ms=T0 + MIN)
    mgr.on_signal(resolve(ts=T0 + 5 * MIN))
    mgr.on_signal(fire(Severity.EMERGENCY, ts=T0, source="panic-1", rule="panic", category="panic"))
    k = mgr.kpis(T0, T0 + HOUR, now_ms=T0 + 2 * HOUR)
    assert (k.alarms, k.alarms_closed, k.auto_closed_hazards, k.work_orders) == (2, 1, 1, 1)
    assert (k.mean_time_to_acknowledge_s, k.mean_time_to_close_s) == (60.0, 300.0)
    assert (k.overdue_work_orders, k.open_overdue_work_orders) == (1, 1)
    assert k.by_category == {"gas": 1, "panic": 1}
