"""Work orders: the Anjing chain of steps, refused transitions, and no overdue once handled."""

from __future__ import annotations

import pytest

from alarms.errors import InvalidRequest, InvalidTransition, NotFound
from alarms.manager import AlarmManager
from core.alarms import Severity, WorkOrder, WorkOrderState
from tests.alarms.support import HOUR, MIN, T0, actions, fire, manager, resolve


def emergency_order(mgr: AlarmManager, source: str = "co-1") -> WorkOrder:
    alarm = mgr.on_signal(fire(Severity.EMERGENCY, ts=T0, source=source))
    assert alarm is not None and alarm.work_order_id is not None
    return mgr.get_work_order(alarm.work_order_id)


def test_the_whole_chain_each_step_with_a_person_and_a_time() -> None:
    mgr, _ = manager()
    order = emergency_order(mgr)
    mgr.sign_work_order(order.id, "pm-duty", now_ms=T0 + 1 * MIN)
    mgr.assign_work_order(order.id, "pm-duty", "li.wei", now_ms=T0 + 2 * MIN)
    mgr.transfer_work_order(order.id, "li.wei", "zhao.min", note="on the night shift", now_ms=T0 + 3 * MIN)
    handled = mgr.handle_work_order(
        order.id,
        "zhao.min",
        "fans on, leak at boiler valve fixed",
        ["photo/1.jpg", "photo/2.jpg"],
        T0 + 20 * MIN,
    )
    assert handled.note == "fans on, leak at boiler valve fixed" and handled.photos == [
        "photo/1.jpg",
        "photo/2.jpg",
    ]
    verified = mgr.verify_work_order(order.id, "grid-zhang", ok=True, now_ms=T0 + 30 * MIN)
    assert verified.state is WorkOrderState.VERIFIED
    closed = mgr.close_work_order(order.id, "grid-zhang", now_ms=T0 + 31 * MIN)
    assert closed.state is WorkOrderState.CLOSED and closed.closed_ts == T0 + 31 * MIN
    assert closed.assignee == "zhao.min" and not closed.overdue

    steps = [(s.action, s.actor, s.ts) for s in mgr.work_order_steps(order.id)]
    assert steps == [
        ("created", "system", T0),
        ("signed", "user:pm-duty", T0 + 1 * MIN),
        ("assigned", "user:pm-duty", T0 + 2 * MIN),
        ("transferred", "user:li.wei", T0 + 3 * MIN),
        ("handled", "user:zhao.min", T0 + 20 * MIN),
        ("verified", "user:grid-zhang", T0 + 30 * MIN),
        ("closed", "user:grid-zhang", T0 + 31 * MIN),
    ]
    assert actions(mgr, order.alarm_id)[-1] == "work_order"  # the alarm's history says it was closed


def test_a_rejected_verification_goes_back_to_assigned() -> None:
    mgr, _ = manager()
    order = emergency_order(mgr)
    mgr.sign_work_order(order.id, "a", now_ms=T0)
    mgr.assign_work_order(order.id, "a", "b", now_ms=T0)
    mgr.handle_work_order(order.id, "b", "done", now_ms=T0 + MIN)
    back = mgr.verify_work_order(order.id, "grid", ok=False, note="valve still leaks", now_ms=T0 + 2 * MIN)
    assert back.state is WorkOrderState.ASSIGNED and back.assignee == "b"
    assert mgr.work_order_steps(order.id)[-1].action == "rejected"
    mgr.handle_work_order(order.id, "b", "valve replaced", now_ms=T0 + 3 * MIN)
    assert (
        mgr.verify_work_order(order.id, "grid", ok=True, now_ms=T0 + 4 * MIN).state is WorkOrderState.VERIFIED
    )


@pytest.mark.parametrize(
    ("walk", "action", "state", "allowed"),
    [
        ([], "handle", "created", ["sign"]),
        ([], "close", "created", ["sign"]),
        (["sign"], "handle", "signed", ["assign", "transfer"]),
        (["sign", "assign"], "verify", "assigned", ["handle", "transfer"]),
        (["sign", "assign", "handle"], "close", "handled", ["verify"]),
        (["sign", "assign", "handle", "verify", "close"], "sign", "closed", []),
    ],
)
def test_invalid_transitions_name_the_state_and_the_allowed_steps(
    walk: list[str], action: str, state: str, allowed: list[str]
) -> None:
    mgr, _ = manager()
    order = emergency_order(mgr)
    do = {
        "sign": lambda: mgr.sign_work_order(order.id, "u", now_ms=T0),
        "assign": lambda: mgr.assign_work_order(order.id, "u", "v", now_ms=T0),
        "handle": lambda: mgr.handle_work_order(order.id, "v", "done", now_ms=T0),
        "verify": lambda: mgr.verify_work_order(order.id, "g", ok=True, now_ms=T0),
        "close": lambda: mgr.close_work_order(order.id, "g", now_ms=T0),
    }
    for step in walk:
        do[step]()
    with pytest.raises(InvalidTransition) as err:
        do[action]()
    assert (err.value.state, err.value.action, err.value.allowed) == (state, action, allowed)
    assert f"it is {state}" in str(err.value) and order.id in str(err.value)
    assert len(mgr.work_order_steps(order.id)) == 1 + len(walk)  # a refused step writes nothing


def test_bad_work_order_requests() -> None:
    mgr, _ = manager()
    order = emergency_order(mgr)
    with pytest.raises(NotFound):
        mgr.sign_work_order("wo-nope", "u", now_ms=T0)
    mgr.sign_work_order(order.id, "u", now_ms=T0)
    with pytest.raises(InvalidRequest):
        mgr.transfer_work_order(order.id, "u", "v", party_id="nobody", now_ms=T0)
    moved = mgr.transfer_work_order(order.id, "u", "v", party_id="owner-b2", now_ms=T0)
    assert moved.party_id == "owner-b2" and moved.state is WorkOrderState.ASSIGNED
    with pytest.raises(InvalidRequest):
        mgr.handle_work_order(order.id, "v", "   ", now_ms=T0)


def test_an_order_handled_in_time_neither_goes_overdue_nor_escalates() -> None:
    mgr, sink = manager()
    order = emergency_order(mgr)
    mgr.sign_work_order(order.id, "u", now_ms=T0)
    mgr.assign_work_order(order.id, "u", "v", now_ms=T0)
    mgr.handle_work_order(order.id, "v", "done", now_ms=T0 + 30 * MIN)
    mgr.tick(T0 + 10 * HOUR)  # verification is late, but that is the supervisor's part
    assert not mgr.get_work_order(order.id).overdue and len(sink.notifications) == 1


def test_the_order_stays_open_when_its_alarm_clears() -> None:
    mgr, _ = manager()
    order = emergency_order(mgr)
    mgr.on_signal(resolve(ts=T0 + MIN))
    assert mgr.get_work_order(order.id).state is WorkOrderState.CREATED
    assert mgr.list_work_orders(states=[WorkOrderState.CREATED], party_id="pm-1")[1] == 1


def test_site_without_an_escalation_chain_still_marks_overdue() -> None:
    mgr, sink = manager()
    alarm = mgr.on_signal(fire(Severity.EMERGENCY, ts=T0, source="h2s-1", rule="h2s-high"))
    assert alarm is not None and alarm.work_order_id is not None
    mgr.tick(T0 + 5 * HOUR)
    order = mgr.get_work_order(alarm.work_order_id)
    assert order.overdue and order.escalation_level == 1 and order.escalated_to is None
    assert [s.action for s in mgr.work_order_steps(order.id)] == ["created", "overdue"]
    assert len(sink.notifications) == 1  # the emergency notice only: there is nobody to escalate to
