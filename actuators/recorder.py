"""Writes command records and transitions to the operational store on a thread of its own."""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Sequence
from typing import Protocol

from actuators.records import CommandRecord, CommandTransition
from core.errors import StoreError

log = logging.getLogger(__name__)

# How long the thread lets records gather once woken: started at once, its database work competed
# for the interpreter lock with the batch that sent the command (as in alarms/writer.py).
GATHER_S = 0.05


class CommandStore(Protocol):
    """Where commands are kept (store/sql/commands.py: SQLite or PostgreSQL)."""

    def save_command(self, record: CommandRecord) -> None: ...

    def add_command_transitions(self, transitions: Sequence[CommandTransition]) -> None: ...

    def save_commands(
        self, records: Sequence[CommandRecord], transitions: Sequence[CommandTransition]
    ) -> None:
        """Both of the above for many commands, in one transaction."""
        ...


class CommandRecorder:
    """A queue and a thread: the manager never waits for the database."""

    def __init__(self, store: CommandStore, *, retry_s: float = 1.0) -> None:
        self.store = store
        self.retry_s = retry_s
        self._queue: queue.Queue[tuple[CommandRecord, list[CommandTransition]] | threading.Event | None] = (
            queue.Queue()
        )
        self._thread: threading.Thread | None = None
        self.written = 0
        self.dropped = 0

    def submit(self, record: CommandRecord, transitions: list[CommandTransition]) -> None:
        """Queue a record and its new transitions; returns at once."""
        self._queue.put((record, transitions))

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="command-recorder", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> bool:
        """Write what waits, then end the thread; False if it did not finish in time."""
        if self._thread is None:
            return True
        self._queue.put(None)
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def wait_idle(self, timeout: float = 2.0) -> None:
        """Block until everything queued so far is written (read-your-writes for the API)."""
        if self._thread is None or not self._thread.is_alive():
            return
        done = threading.Event()
        self._queue.put(done)
        done.wait(timeout)

    def _run(self) -> None:
        while True:
            items = [self._queue.get()]
            if not isinstance(items[0], threading.Event | None):  # wait_idle and stop do not wait
                time.sleep(GATHER_S)
            while not self._queue.empty():
                items.append(self._queue.get_nowait())
            gathered: list[tuple[CommandRecord, list[CommandTransition]]] = []
            for item in items:
                if item is not None and not isinstance(item, threading.Event):
                    gathered.append(item)
                    continue
                self._write_all(gathered)  # what came before a marker is written before it
                gathered = []
                if item is None:
                    return
                item.set()  # a wait_idle marker: all before it is written
            self._write_all(gathered)

    def _write_all(self, items: list[tuple[CommandRecord, list[CommandTransition]]]) -> None:
        """Everything gathered in one transaction; one by one if the store refuses some of it."""
        if len(items) <= 1:
            for record, transitions in items:
                self._write(record, transitions)
            return
        records = [record for record, _ in items]
        transitions = [t for _, ts in items for t in ts]
        for attempt in range(5):
            try:
                self.store.save_commands(records, transitions)
                self.written += len(items)
                return
            except StoreError as err:
                if not err.retryable:
                    log.warning("%d commands not stored together (%s); one by one", len(items), err)
                    break
                if attempt == 4:
                    break
                log.warning("%d commands not stored yet (%s); retrying", len(items), err)
                threading.Event().wait(self.retry_s)
        for record, ts in items:  # the refused one is dropped alone, with its reason
            self._write(record, ts)

    def _write(self, record: CommandRecord, transitions: list[CommandTransition]) -> None:
        for attempt in range(5):
            try:
                self.store.save_command(record)
                self.store.add_command_transitions(transitions)
                self.written += 1
                return
            except StoreError as err:
                if not err.retryable or attempt == 4:
                    self.dropped += 1
                    log.error("command %s not stored: %s", record.correlation_id, err)
                    return
                log.warning("command %s not stored yet (%s); retrying", record.correlation_id, err)
                threading.Event().wait(self.retry_s)
