"""The ops writer persists every change off the caller's thread; a restart continues where it left off.

These use an in-memory OpsStore: the SQL store's own suite runs the same calls on real databases.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from alarms.engine import STATE_DOC
from alarms.kpi import kpis_from_store
from alarms.manager import AlarmManager
from alarms.writer import ChangeSet, OpsWriter
from core.alarms import AlarmState, Severity, WorkOrderState
from tests.alarms.support import HOUR, MIN, T0, TWIN, MemoryOpsStore, RecordingSink, actions, fire, resolve


@pytest.fixture
def store() -> MemoryOpsStore:
    return MemoryOpsStore()


@pytest.fixture
def writer(store: MemoryOpsStore) -> Iterator[OpsWriter]:
    w = OpsWriter(store, retry_min_s=0.001, retry_max_s=0.01)
    w.start()
    yield w
    w.stop(timeout=5)


def test_every_change_reaches_the_store(store: MemoryOpsStore, writer: OpsWriter) -> None:
    mgr = AlarmManager(TWIN, sink=RecordingSink(), writer=writer)
    a = mgr.on_signal(fire(Severity.WARNING, ts=T0))
    assert a is not None
    mgr.acknowledge(a.id, "alice", now_ms=T0 + MIN)
    mgr.on_signal(fire(Severity.EMERGENCY, ts=T0, source="co-2", rule="co-rise"))
    mgr.tick(T0 + 2 * HOUR)  # the warning's deadline and the emergency order's deadline both pass
    assert writer.flush(5)

    assert store.alarms == {x.id: x for x in mgr.list_alarms()[0]}
    for alarm_id in store.alarms:
        assert store.alarm_history(alarm_id) == mgr.alarm_history(alarm_id)
    orders = mgr.list_work_orders()[0]
    assert len(orders) == 2 and store.orders == {o.id: o for o in orders}
    for o in orders:
        assert store.work_order_steps(o.id) == mgr.work_order_steps(o.id)
    assert store.credit == mgr.credit_history("pm-1") and store.credit_scores() == {"pm-1": 95.0}
    assert STATE_DOC in store.documents
    status = writer.status()
    assert status.queued == 0 and not status.failing and status.dropped_records == 0


def test_a_store_that_fails_is_retried_without_writing_anything_twice(
    store: MemoryOpsStore, writer: OpsWriter
) -> None:
    mgr = AlarmManager(TWIN, sink=RecordingSink(), writer=writer)
    store.fail_next = 5
    a = mgr.on_signal(fire(Severity.WARNING, ts=T0))
    mgr.on_signal(fire(Severity.ALARM, ts=T0 + MIN))
    assert a is not None and writer.flush(5)
    assert store.alarm_history(a.id) == mgr.alarm_history(a.id)  # each event once, in order
    assert store.alarms[a.id].severity is Severity.ALARM
    assert writer.status().last_error is not None and not writer.status().failing


def test_records_the_store_refuses_are_dropped_and_the_rest_written(
    store: MemoryOpsStore, writer: OpsWriter
) -> None:
    mgr = AlarmManager(TWIN, sink=RecordingSink(), writer=writer)
    a = mgr.on_signal(fire(ts=T0))
    assert a is not None and writer.flush(5)
    store.refuse_alarm_ids.add(a.id)
    mgr.on_signal(fire(ts=T0, source="co-2"))  # written in the same batch as the refused update below
    mgr.acknowledge(a.id, "alice", now_ms=T0 + MIN)
    assert writer.flush(5)
    assert writer.status().dropped_records == 1
    assert len(store.alarms) == 2 and store.alarms[a.id].acknowledged_ts is None
    assert store.alarm_history(a.id)[-1].action == "acknowledged"  # the history still has it


def test_the_writer_never_blocks_the_caller_and_stops_cleanly(store: MemoryOpsStore) -> None:
    w = OpsWriter(store, retry_min_s=0.001, retry_max_s=0.01)
    w.submit(ChangeSet())  # nothing: ignored
    changes = ChangeSet(documents={"x": {"a": 1}})
    w.submit(changes)  # queued before start
    assert not w.flush(0.01)  # not running yet
    w.start()
    assert w.flush(5) and store.documents == {"x": {"a": 1}}
    assert w.stop(5)
    w.submit(ChangeSet(documents={"y": {}}))  # after stop: logged and not stored
    assert "y" not in store.documents


def test_restart_continues_the_same_alarm_order_and_scores(store: MemoryOpsStore) -> None:
    first_writer = OpsWriter(store)
    first_writer.start()
    first = AlarmManager(TWIN, sink=RecordingSink(), writer=first_writer)
    hazard = first.on_signal(fire(Severity.WARNING, ts=T0))
    emergency = first.on_signal(fire(Severity.EMERGENCY, ts=T0, source="co-2", rule="co-rise"))
    first.shelve("lel-1", T0 + 10 * HOUR, "valve replacement", "alice", now_ms=T0)
    first.tick(T0 + 20 * MIN)  # nothing due yet
    assert hazard is not None and emergency is not None and emergency.work_order_id is not None
    first.on_signal(resolve(ts=T0 + 21 * MIN, source="co-2", rule="co-rise"))  # the order stays open
    first.tick(T0 + HOUR)  # the emergency order goes overdue: pm-1 loses 5 points; the hazard's
    # deadline passed too, so it became a work order as well
    assert first_writer.stop(5)

    sink = RecordingSink()
    second_writer = OpsWriter(store)
    second_writer.start()
    second = AlarmManager(TWIN, sink=sink, writer=second_writer)
    summary = second.load(store, now_ms=T0 + HOUR + 2 * MIN)
    assert (summary.alarms, summary.work_orders, summary.parties, summary.shelves) == (1, 2, 1, 1)

    again = second.on_signal(fire(Severity.ALARM, ts=T0 + HOUR + 3 * MIN))
    assert again is not None and again.id == hazard.id
    assert again.work_order_id is not None and again.work_order_id in {o.id for o in store.orders.values()}
    assert actions(second, hazard.id)[:3] == ["raised", "active", "broadcast"]  # history carried over
    assert actions(second, hazard.id)[-1] == "escalated"
    assert second.credit.score("pm-1") == 95

    order = second.get_work_order(emergency.work_order_id)
    assert order.escalation_level == 1 and order.state is WorkOrderState.CREATED
    second.tick(order.deadline_ts + HOUR)  # emergency orders climb one level per 30 minutes
    assert second.get_work_order(order.id).escalation_level == 3
    assert [n[0].party_id for n in sink.notifications] == ["comm-1", "street-1"]

    shelved = second.on_signal(fire(ts=T0 + 2 * HOUR, source="lel-1", rule="lel-high"))
    assert shelved is not None and shelved.shelved_until_ts == T0 + 10 * HOUR  # the window survived
    cleared = second.on_signal(resolve(ts=T0 + 3 * HOUR))
    assert cleared is not None and cleared.id == hazard.id and cleared.state is AlarmState.CLEARED
    assert second_writer.stop(5)
    assert store.alarms[hazard.id].state is AlarmState.CLEARED
    assert store.alarm_history(hazard.id) == second.alarm_history(hazard.id)


def test_archive_reads_and_kpis_from_the_store(store: MemoryOpsStore, writer: OpsWriter) -> None:
    first = AlarmManager(TWIN, sink=RecordingSink(), writer=writer)
    gone = first.on_signal(fire(ts=T0))
    first.on_signal(resolve(ts=T0 + 5 * MIN))
    first.on_signal(fire(Severity.EMERGENCY, ts=T0, source="panic-1", rule="panic", category="panic"))
    assert gone is not None and writer.flush(5)

    second = AlarmManager(TWIN, sink=RecordingSink())
    second.load(store, now_ms=T0 + HOUR)
    assert second.get_alarm(gone.id).state is AlarmState.CLEARED  # not in memory: read from the store
    assert actions(second, gone.id) == actions(first, gone.id)
    from_store = kpis_from_store(store, since_ts=T0, until_ts=T0 + HOUR, now_ms=T0 + 2 * HOUR)
    assert from_store == first.kpis(T0, T0 + HOUR, now_ms=T0 + 2 * HOUR)


def test_callers_on_several_threads_keep_memory_and_store_in_step(
    store: MemoryOpsStore, writer: OpsWriter
) -> None:
    mgr = AlarmManager(TWIN, sink=RecordingSink(), writer=writer)

    def work(k: int) -> None:
        for i in range(50):
            alarm = mgr.on_signal(fire(Severity.WARNING, ts=T0 + i, source="co-1", rule=f"t{k}-{i % 5}"))
            assert alarm is not None
            mgr.comment(alarm.id, f"u{k}", f"note {i}", now_ms=T0 + i)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    mgr.tick(T0 + HOUR)
    assert writer.flush(5)
    assert len(mgr.open_alarms()) == 20 and store.alarms == {a.id: a for a in mgr.open_alarms()}
    for alarm_id in store.alarms:
        assert store.alarm_history(alarm_id) == mgr.alarm_history(alarm_id)


def test_workers_sharing_a_store_each_continue_only_their_own_sites(store: MemoryOpsStore) -> None:
    writer = OpsWriter(store)
    writer.start()
    first = AlarmManager(TWIN, sink=RecordingSink(), writer=writer, state_doc=f"{STATE_DOC}@0/2")
    in_s1 = first.on_signal(fire(Severity.WARNING, ts=T0))  # co-1 in site s1
    in_s2 = first.on_signal(fire(Severity.EMERGENCY, ts=T0, source="h2s-1", rule="h2s-high"))
    assert in_s1 is not None and in_s2 is not None and in_s2.work_order_id is not None
    assert writer.stop(5)
    assert f"{STATE_DOC}@0/2" in store.documents and STATE_DOC not in store.documents

    other = AlarmManager(TWIN, sink=RecordingSink(), state_doc=f"{STATE_DOC}@1/2")
    summary = other.load(store, now_ms=T0 + MIN, owns_site=lambda site: site == "s2")
    assert (summary.alarms, summary.work_orders) == (1, 1)
    assert [a.id for a in other.open_alarms()] == [in_s2.id]  # s1's alarm stays with its own worker
