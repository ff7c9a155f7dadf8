"""The ops writer: a thread that persists the alarm manager's changes so the event loop never waits.

The manager hands over one `ChangeSet` per operation with `submit` (never blocks).  The thread merges
what is queued (the last version of an alarm or order wins; events, steps and credit events keep their
order) and writes it in dependency order: alarms, alarm events, work orders, steps, credit events,
documents.  A failing write is logged and retried with a growing delay, from the part that failed, so
nothing is written twice; a `StoreError(retryable=False)` is retried record by record and the records
the store refuses are dropped and counted, so one bad record cannot hold the rest back.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from alarms.ports import OpsStore
from core.alarms import Alarm, AlarmEvent, CreditEvent, WorkOrder, WorkOrderStep
from core.errors import StoreError

log = logging.getLogger(__name__)

# How long the thread lets changes gather once woken.  Writing is Python work that holds the
# interpreter lock; started at once, it competed with the very batch that raised the alarm (whose
# commands were then late by a few switch intervals), and a storm wrote one transaction per alarm.
GATHER_S = 0.05


@dataclass
class ChangeSet:
    """Everything one manager operation changed, to be persisted together."""

    alarms: dict[str, Alarm] = field(default_factory=dict)
    alarm_events: list[AlarmEvent] = field(default_factory=list)
    work_orders: dict[str, WorkOrder] = field(default_factory=dict)
    steps: list[WorkOrderStep] = field(default_factory=list)
    credit_events: list[CreditEvent] = field(default_factory=list)
    documents: dict[str, dict[str, Any]] = field(default_factory=dict)

    def empty(self) -> bool:
        """True when nothing changed."""
        return not (
            self.alarms
            or self.alarm_events
            or self.work_orders
            or self.steps
            or self.credit_events
            or self.documents
        )

    def merge(self, other: ChangeSet) -> None:
        """Fold a later change set into this one."""
        self.alarms.update(other.alarms)
        self.alarm_events.extend(other.alarm_events)
        self.work_orders.update(other.work_orders)
        self.steps.extend(other.steps)
        self.credit_events.extend(other.credit_events)
        self.documents.update(other.documents)

    def parts(self, store: OpsStore) -> list[tuple[str, Callable[[Sequence[Any]], None], list[Any]]]:
        """(name, store call taking a list, records) in the order they must be written."""

        def docs(items: Sequence[tuple[str, dict[str, Any]]]) -> None:
            for name, body in items:
                store.save_document(name, body)

        return [
            ("alarms", store.save_alarms, list(self.alarms.values())),
            ("alarm events", store.add_alarm_events, self.alarm_events),
            ("work orders", store.save_work_orders, list(self.work_orders.values())),
            ("work order steps", store.add_work_order_steps, self.steps),
            ("credit events", store.add_credit_events, self.credit_events),
            ("documents", docs, list(self.documents.items())),
        ]


class OpsWriterStatus(BaseModel):
    """What the ops writer is doing, for the health page."""

    model_config = ConfigDict(frozen=True)

    queued: int = Field(description="Change sets waiting to be written")
    written: int = Field(description="Change sets written since start")
    dropped_records: int = Field(description="Records the store refused as malformed and that were dropped")
    failing: bool = Field(description="True while the last write attempt failed and is being retried")
    last_error: str | None = Field(description="Most recent store error, if any")


class OpsWriter:
    """Writes submitted change sets to an OpsStore from its own thread, retrying while it fails."""

    def __init__(
        self,
        store: OpsStore,
        *,
        retry_min_s: float = 0.5,
        retry_max_s: float = 30.0,
        name: str = "ops-writer",
        listeners: Sequence[Callable[[ChangeSet], None]] = (),
    ) -> None:
        self.store = store
        self.listeners = list(listeners)  # told of every change set as it is submitted; must not block
        self.retry_min_s, self.retry_max_s = retry_min_s, retry_max_s
        self._name = name
        self._cond = threading.Condition()
        self._queue: deque[ChangeSet] = deque()
        self._submitted = 0  # change sets submitted, under _cond
        self._done = 0  # change sets written or given up, under _cond
        self._stopping = False
        self._hurry = 0  # callers of flush() waiting: write at once
        self._thread: threading.Thread | None = None
        self._written = 0
        self._dropped = 0
        self._failing = False
        self._last_error: str | None = None

    def start(self) -> None:
        """Start the writer thread."""
        if self._thread is not None:
            raise RuntimeError("ops writer already started")
        self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
        self._thread.start()

    def submit(self, changes: ChangeSet) -> None:
        """Queue a change set; returns at once."""
        if changes.empty():
            return
        for listener in self.listeners:
            try:
                listener(changes)
            except Exception:  # announcing a change must never lose it
                log.exception("a change listener failed; the change is still stored")
        with self._cond:
            if self._stopping:
                log.error("ops writer is stopped; a change set submitted now is not stored")
                return
            self._queue.append(changes)
            self._submitted += 1
            self._cond.notify_all()

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until everything submitted so far is written; False on timeout or if not running."""
        with self._cond:
            target = self._submitted
            self._hurry += 1
            self._cond.notify_all()
            try:
                return self._cond.wait_for(
                    lambda: self._done >= target or not (self._thread and self._thread.is_alive()), timeout
                ) and (self._done >= target)
            finally:
                self._hurry -= 1

    def stop(self, timeout: float = 10.0) -> bool:
        """Flush, then end the thread; False if something was left unwritten."""
        flushed = self.flush(timeout) if self._thread is not None else not self._queue
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout)
        if not flushed:
            log.error("ops writer stopped with %d change set(s) unwritten", len(self._queue))
        return flushed

    def status(self) -> OpsWriterStatus:
        """A snapshot of the writer's counters."""
        with self._cond:
            return OpsWriterStatus(
                queued=len(self._queue),
                written=self._written,
                dropped_records=self._dropped,
                failing=self._failing,
                last_error=self._last_error,
            )

    # --- writer thread -----------------------------------------------------------------------

    def _take(self) -> tuple[ChangeSet, int] | None:
        """Wait for work and take everything queued, merged; None when stopping with nothing left."""
        with self._cond:
            self._cond.wait_for(lambda: bool(self._queue) or self._stopping)
            if not self._queue:
                return None
            merged, count = ChangeSet(), 0
            while self._queue:
                merged.merge(self._queue.popleft())
                count += 1
            return merged, count

    def _run(self) -> None:
        while True:
            with self._cond:  # let changes gather (GATHER_S) unless someone waits for them
                self._cond.wait_for(lambda: bool(self._queue) or self._stopping)
                self._cond.wait_for(lambda: self._stopping or self._hurry > 0, GATHER_S)
            taken = self._take()
            if taken is None:
                return
            changes, count = taken
            self._write(changes)
            with self._cond:
                self._done += count
                self._written += count
                self._cond.notify_all()

    def _write(self, changes: ChangeSet) -> None:
        """Write every part in order, each until it is written or refused."""
        for name, call, items in changes.parts(self.store):
            if items:
                self._write_part(name, call, items, single=False)
        with self._cond:
            self._failing = False

    def _write_part(
        self, name: str, call: Callable[[Sequence[Any]], None], items: list[Any], *, single: bool
    ) -> None:
        """Retry while the store fails; if it refuses the records, write singly and drop the refused."""
        delay = self.retry_min_s
        while True:
            try:
                call(items)
                return
            except StoreError as err:
                if err.retryable:
                    delay = self._failed(name, err, delay)
                elif single:
                    log.error("dropped one of the %s the ops store refuses: %s (%r)", name, err, items[0])
                    with self._cond:
                        self._dropped += 1
                        self._last_error = f"refused: {err}"
                    return
                else:
                    log.error("the ops store refused %s (%s); writing them one by one", name, err)
                    for item in items:
                        self._write_part(name, call, [item], single=True)
                    return
            except Exception as err:  # a store that is down must not kill the thread
                delay = self._failed(name, err, delay)

    def _failed(self, name: str, err: Exception, delay: float) -> float:
        """Log a failed write, wait, and return the next delay."""
        with self._cond:
            self._failing, self._last_error = True, f"{type(err).__name__}: {err}"
        log.warning("writing %s to the ops store failed (%s); retrying in %.1f s", name, err, delay)
        time.sleep(delay)
        return min(delay * 2, self.retry_max_s)
