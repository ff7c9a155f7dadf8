"""Every OpsStore method on a real database: records come back exactly as they were saved."""

from __future__ import annotations

from typing import Any

import orjson

from alarms.ports import OpsStore
from core.alarms import AlarmState, WorkOrderState
from core.settings import DatabaseSettings
from core.steps import dumps_in_steps, encode_in_steps, finish
from store.sql import SqlOpsStore
from tests.store_sql.support import (
    EVIDENCE,
    T0,
    make_alarm,
    make_credit,
    make_event,
    make_minimal_alarm,
    make_order,
    make_step,
)


def test_it_is_an_ops_store(store: SqlOpsStore) -> None:
    port: OpsStore = store  # mypy checks every method signature against the Protocol
    assert port.open_alarms() == []


def test_alarm_round_trips_exactly(store: SqlOpsStore) -> None:
    full, minimal = make_alarm("a1"), make_minimal_alarm("a2")
    store.save_alarm(full)
    store.save_alarm(minimal)
    assert store.get_alarm("a1") == full
    assert store.get_alarm("a2") == minimal
    assert store.get_alarm("a1").evidence == EVIDENCE  # type: ignore[union-attr]
    assert store.get_alarm("nope") is None


def test_saving_an_alarm_again_replaces_it(store: SqlOpsStore) -> None:
    store.save_alarm(make_alarm("a1"))
    cleared = make_alarm(
        "a1", state=AlarmState.CLEARED, cleared_ts=T0 + 60_000, updated_ts=T0 + 60_000,
        evidence={"清除": True}, assignee=None, message="已恢复正常",
    )  # fmt: skip
    store.save_alarm(cleared)
    assert store.get_alarm("a1") == cleared
    assert store.list_alarms()[1] == 1
    assert store.open_alarms() == []


def test_alarm_history_in_order(store: SqlOpsStore) -> None:
    store.save_alarm(make_alarm("a1"))
    store.save_alarm(make_alarm("a2"))
    first = [make_event("a1", T0, "raised"), make_event("a1", T0 + 10_000, "active", note="持续 10 秒")]
    store.add_alarm_events(first)
    store.add_alarm_events([make_event("a2", T0 + 1)])
    later = [make_event("a1", T0 + 20_000, "acknowledged"), make_event("a1", T0 + 20_000, "assigned")]
    store.add_alarm_events(later)
    store.add_alarm_events([])
    assert store.alarm_history("a1") == first + later
    assert len(store.alarm_history("a2")) == 1
    assert store.alarm_history("none") == []


def test_list_alarms_filters_pages_and_counts(store: SqlOpsStore) -> None:
    for i in range(7):
        state = AlarmState.CLEARED if i % 3 == 0 else AlarmState.ACTIVE
        site = "site-a" if i % 2 == 0 else "site-b"
        store.save_alarm(make_minimal_alarm(f"a{i}", site=site, state=state, updated_ts=T0 + i * 1000))
    page, total = store.list_alarms(limit=3)
    assert total == 7
    assert [a.id for a in page] == ["a6", "a5", "a4"]  # last updated first
    page, total = store.list_alarms(limit=3, offset=6)
    assert ([a.id for a in page], total) == (["a0"], 7)
    page, total = store.list_alarms(states=[AlarmState.ACTIVE, AlarmState.PENDING])
    assert ([a.id for a in page], total) == (["a5", "a4", "a2", "a1"], 4)
    page, total = store.list_alarms(site="site-b", since_ts=T0 + 2000)
    assert ([a.id for a in page], total) == (["a5", "a3"], 2)
    page, total = store.list_alarms(states=[AlarmState.CLEARED], site="site-a", limit=1)
    assert ([a.id for a in page], total) == (["a6"], 2)
    assert store.list_alarms(states=[]) == ([], 0)
    assert store.list_alarms(limit=0) == ([], 7)


def test_open_alarms_are_those_not_cleared(store: SqlOpsStore) -> None:
    states = [AlarmState.PENDING, AlarmState.ACTIVE, AlarmState.CLEARED, AlarmState.NO_DATA, AlarmState.ERROR]
    for i, state in enumerate(states):
        store.save_alarm(make_minimal_alarm(f"a{i}", state=state))
    assert [a.id for a in store.open_alarms()] == ["a0", "a1", "a3", "a4"]


def test_records_survive_a_restart(db_url: str) -> None:
    first = SqlOpsStore(DatabaseSettings(url=db_url))
    first.open()
    first.save_alarm(make_alarm("a1"))
    first.save_document("engine", {"timers": {"gas-01": T0}})
    first.close()
    again = SqlOpsStore(DatabaseSettings(url=db_url))
    again.open()
    try:
        assert again.open_alarms() == [make_alarm("a1")]
        assert again.load_document("engine") == {"timers": {"gas-01": T0}}
    finally:
        again.close()


def test_work_order_round_trip_upsert_and_steps(store: SqlOpsStore) -> None:
    store.save_alarm(make_alarm("a1"))
    order = make_order("wo-1")
    store.save_work_order(order)
    assert store.get_work_order("wo-1") == order
    closed = make_order("wo-1", state=WorkOrderState.CLOSED, closed_ts=T0 + 5, photos=[], overdue=False)
    store.save_work_order(closed)
    assert store.get_work_order("wo-1") == closed
    assert store.get_work_order("nope") is None
    steps = [
        make_step("wo-1", T0),
        make_step("wo-1", T0 + 1, "signed", note="已签收"),
        make_step("wo-1", T0 + 2, "closed"),
    ]
    store.add_work_order_steps(steps[:2])
    store.add_work_order_steps(steps[2:])
    assert store.work_order_steps("wo-1") == steps
    assert store.work_order_steps("nope") == []


def test_list_and_open_work_orders(store: SqlOpsStore) -> None:
    store.save_alarm(make_alarm("a1"))
    states = [WorkOrderState.CREATED, WorkOrderState.CLOSED, WorkOrderState.ASSIGNED, WorkOrderState.HANDLED]
    for i, state in enumerate(states):
        party = "party-owner" if i < 2 else "party-property"
        store.save_work_order(make_order(f"wo-{i}", state=state, party_id=party, created_ts=T0 + i))
    store.save_work_order(make_order("wo-9", party_id=None, created_ts=T0 - 1))
    page, total = store.list_work_orders()
    assert ([o.id for o in page], total) == (["wo-3", "wo-2", "wo-1", "wo-0", "wo-9"], 5)
    page, total = store.list_work_orders(party_id="party-property", limit=1)
    assert ([o.id for o in page], total) == (["wo-3"], 2)
    page, total = store.list_work_orders(states=[WorkOrderState.CREATED, WorkOrderState.CLOSED], offset=1)
    assert ([o.id for o in page], total) == (["wo-0"], 2)
    assert [o.id for o in store.open_work_orders()] == ["wo-9", "wo-0", "wo-2", "wo-3"]


def test_credit_scores_are_the_latest_per_party(store: SqlOpsStore) -> None:
    assert store.credit_scores() == {}
    owner = [make_credit("owner", T0, -5.0, 95.0), make_credit("owner", T0 + 2, -2.5, 92.5)]
    store.add_credit_events([owner[1], make_credit("property", T0, 0.1 + 0.2, 100.30000000000001)])
    store.add_credit_events([owner[0]])  # written late, happened earlier
    store.add_credit_events([make_credit("grid", T0, 1.0, 70.0), make_credit("grid", T0, 2.0, 72.0)])
    assert store.credit_scores() == {"owner": 92.5, "property": 100.30000000000001, "grid": 72.0}
    assert store.credit_history("owner") == owner
    assert store.credit_history("property")[0].delta == 0.1 + 0.2
    assert store.credit_history("nobody") == []


def test_rule_versions_and_latest_rules(store: SqlOpsStore) -> None:
    v1: dict[str, Any] = {"id": "gas-ch4", "kind": "threshold", "levels": [25, 50], "名称": "甲烷"}
    v2 = {**v1, "levels": [20, 40]}
    store.save_rule_version("gas-ch4", 1, v1, "user:王工", T0)
    store.save_rule_version("gas-ch4", 2, v2, "user:王工", T0 + 1)
    store.save_rule_version("co", 1, {"id": "co"}, "user:admin", T0)
    store.save_rule_version("co", 2, {"deleted": True}, "user:admin", T0 + 2)
    store.save_rule_version("co", 2, {"deleted": True}, "user:admin", T0 + 3)  # a retried write
    assert store.rule_versions("gas-ch4") == [(1, v1, "user:王工", T0), (2, v2, "user:王工", T0 + 1)]
    assert store.rule_versions("co")[-1] == (2, {"deleted": True}, "user:admin", T0 + 3)
    assert store.rule_versions("nope") == []
    assert store.latest_rules() == [{"deleted": True}, v2]


def test_documents_are_replaced_whole(store: SqlOpsStore) -> None:
    assert store.load_document("engine") is None
    store.save_document("engine", {"windows": {"gas-01": [[T0, 1.5]]}, "备注": "状态"})
    store.save_document("engine", {"timers": {}})
    store.save_document("other", {})
    assert store.load_document("engine") == {"timers": {}}
    assert store.load_document("other") == {}


def test_a_document_encoded_in_steps_is_stored_as_the_same_json(store: SqlOpsStore) -> None:
    doc = {"devices": {f"d{i}": (T0 + i, T0, 1) for i in range(2_500)}, "rules": {"r": {"备注": [1.5, None]}}}
    store.save_encoded_document("engine", finish(dumps_in_steps(doc, 1_000)))
    loaded = store.load_document("engine")
    assert loaded == orjson.loads(orjson.dumps(doc))
    assert loaded is not None and loaded["devices"]["d2499"] == [T0 + 2_499, T0, 1]
    store.save_encoded_document("pieces", finish(encode_in_steps(doc, 1_000)))  # as the rule engine saves
    assert store.load_document("pieces") == loaded


def test_alarms_and_work_orders_saved_several_at_once_replace_by_id(store: SqlOpsStore) -> None:
    store.save_alarm(make_alarm("a1"))
    cleared = make_alarm("a1", state=AlarmState.CLEARED, cleared_ts=T0 + 9)
    store.save_alarms([cleared, make_alarm("a2")])
    assert store.get_alarm("a1") == cleared and store.get_alarm("a2") == make_alarm("a2")
    orders = [make_order("wo-1", alarm_id="a1"), make_order("wo-2", alarm_id="a2")]
    store.save_work_orders(orders)
    closed = make_order("wo-2", alarm_id="a2", state=WorkOrderState.CLOSED, closed_ts=T0 + 5)
    store.save_work_orders([closed])
    assert [store.get_work_order("wo-1"), store.get_work_order("wo-2")] == [orders[0], closed]
    store.save_alarms([])
    store.save_work_orders([])
