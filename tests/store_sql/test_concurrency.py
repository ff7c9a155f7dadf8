"""A writer thread and API threads share one store."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from core.alarms import AlarmState
from store.sql import SqlOpsStore
from tests.store_sql.support import T0, make_credit, make_event, make_minimal_alarm

THREADS, PER_THREAD = 4, 15


def _write(store: SqlOpsStore, worker: int) -> None:
    for i in range(PER_THREAD):
        alarm_id = f"w{worker}-{i}"
        store.save_alarm(make_minimal_alarm(alarm_id, updated_ts=T0 + i))
        store.add_alarm_events([make_event(alarm_id, T0 + i), make_event(alarm_id, T0 + i + 1, "active")])
        store.save_alarm(make_minimal_alarm(alarm_id, state=AlarmState.CLEARED, updated_ts=T0 + i + 2))
        store.add_credit_events([make_credit(f"party-{worker}", T0 + i, -1.0, 100.0 - i)])
        store.save_document("shared", {"by": worker, "i": i})


def _read(store: SqlOpsStore) -> int:
    seen = 0
    for _ in range(PER_THREAD):
        page, total = store.list_alarms(limit=10)
        assert len(page) <= min(total, 10)
        store.open_alarms()
        store.credit_scores()
        seen = max(seen, total)
    return seen


def test_concurrent_writers_and_readers(store: SqlOpsStore) -> None:
    with ThreadPoolExecutor(max_workers=THREADS * 2) as pool:
        writes = [pool.submit(_write, store, w) for w in range(THREADS)]
        reads = [pool.submit(_read, store) for _ in range(THREADS)]
        for future in writes + reads:
            future.result()
    assert store.list_alarms(limit=0)[1] == THREADS * PER_THREAD
    assert store.open_alarms() == []
    assert all(len(store.alarm_history(f"w{w}-{i}")) == 2 for w in range(THREADS) for i in range(PER_THREAD))
    assert store.credit_scores() == {f"party-{w}": 100.0 - (PER_THREAD - 1) for w in range(THREADS)}
    assert store.load_document("shared") in [{"by": w, "i": PER_THREAD - 1} for w in range(THREADS)]
