"""The history writer: a thread that batches readings into the store and spools them while it is down.

`submit` never blocks the caller (the ingest loop): it appends to an in-memory queue.  The thread
coalesces the queue into writes of at most `batch_max_points`, at least every `flush_interval_s`.
When a write fails because the store is unreachable, that batch and every later one go to the disk
spool, in order, and the oldest spooled batch is retried every `retry_interval_s`; once the spool is
drained, writes go straight to the store again.  A batch the store refuses as malformed is counted and
logged, never retried, so one bad batch cannot hold the pipeline back.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable

from pydantic import BaseModel, ConfigDict, Field

from core.errors import StoreError
from core.records import ReadingBatch
from store.base import HistoryBackend
from store.spool import DiskSpool

log = logging.getLogger(__name__)

AlarmCallback = Callable[[str, str], None]

ALARM_STORE_DOWN = "history_store_down"
ALARM_STORE_UP = "history_store_up"
ALARM_SPOOL_FULL = "history_spool_full"
ALARM_SPOOL_OK = "history_spool_ok"

# Longest stretch of replaying before new readings are spooled behind the backlog.
REPLAY_SLICE_S = 1.0
# The spool-full alarm clears once the spool is back under this share of its bound.
SPOOL_OK_SHARE = 0.9
# How often the writer asks the store how much it caches in memory.
CACHE_SAMPLE_S = 5.0


class WriterStatus(BaseModel):
    """What the history writer is doing, for the API and the health page."""

    model_config = ConfigDict(frozen=True)

    backend: str = Field(description="History backend name, e.g. 'duckdb'")
    store_up: bool = Field(description="False while the store is unreachable and readings are spooled")
    queued_points: int = Field(description="Readings in memory, not yet written or spooled")
    spooled_batches: int = Field(description="Batches waiting in the disk spool")
    spooled_bytes: int = Field(description="Size of the disk spool, bytes")
    spool_full: bool = Field(description="True while the spool is at its bound and new readings are dropped")
    written_points: int = Field(description="Readings written to the store since start")
    dropped_points: int = Field(description="Readings lost because the spool was full")
    rejected_points: int = Field(description="Readings the store refused as malformed")
    last_error: str | None = Field(description="Most recent store error, if any")
    cache_bytes: int | None = Field(
        default=None,
        description="Memory the store holds as cache in this process, bytes (DuckDB's buffer, bounded by "
        "store.duckdb_memory_limit_mb); None where the store keeps none here",
    )


class HistoryWriter:
    """Writes submitted batches to a history backend from its own thread, spooling while it is down."""

    def __init__(
        self,
        backend: HistoryBackend,
        spool: DiskSpool,
        *,
        flush_interval_s: float = 0.1,
        batch_max_points: int = 50_000,
        retry_interval_s: float = 2.0,
        on_alarm: AlarmCallback | None = None,
    ) -> None:
        self.backend = backend
        self.spool = spool
        self.flush_interval_s = flush_interval_s
        self.batch_max_points = batch_max_points
        self.retry_interval_s = retry_interval_s
        self._on_alarm = on_alarm
        self._cond = threading.Condition()
        # Shared with submitters and flushers, under _cond.
        self._queue: deque[ReadingBatch] = deque()
        self._queued_points = 0
        self._oldest_at: float | None = None  # when the oldest queued batch arrived (monotonic)
        self._submitted = 0  # batches submitted
        self._handled = 0  # batches written, spooled or refused
        self._flush_asked = 0
        self._flush_done = 0
        self._stopping = False
        self._waiters: deque[tuple[int, Callable[[], None]]] = deque()  # (batches handled, callback)
        # Owned by the writer thread; status() reads them.
        self._thread: threading.Thread | None = None
        self._opened = False
        self._store_up = True
        self._spool_full = False
        self._next_retry = 0.0
        self._written = 0
        self._dropped = 0
        self._rejected = 0
        self._last_error: str | None = None
        self._cache_bytes: int | None = None
        self._cache_sampled_at = -CACHE_SAMPLE_S

    # --- public API -------------------------------------------------------------------------

    def start(self) -> None:
        """Start the writer thread; it opens the backend itself, so a store that is down never blocks."""
        if self._thread is not None:
            raise RuntimeError("history writer already started")
        self._thread = threading.Thread(
            target=self._run, name=f"history-writer-{self.backend.name}", daemon=True
        )
        self._thread.start()

    def submit(self, batch: ReadingBatch) -> None:
        """Queue a batch for writing; returns at once."""
        if not len(batch):
            return
        with self._cond:
            if self._stopping:
                log.error("history writer is stopped; %d readings submitted now are not stored", len(batch))
                return
            was_empty = not self._queue
            if was_empty:
                self._oldest_at = time.monotonic()
            self._queue.append(batch)
            self._queued_points += len(batch)
            self._submitted += 1
            if was_empty or self._queued_points >= self.batch_max_points:
                self._cond.notify()

    def when_stored(self, callback: Callable[[], None]) -> None:
        """Call `callback` once every batch submitted so far is written, spooled or refused.

        It runs at once if nothing is pending, else on the writer thread; ingest acknowledges the
        broker's QoS 1 messages from it, so a reading is never acknowledged before it is on disk.
        """
        with self._cond:
            target = self._submitted
            if self._handled < target and self._thread is not None and self._thread.is_alive():
                self._waiters.append((target, callback))
                return
        callback()

    def flush(self, timeout: float | None = None) -> bool:
        """Write (or spool) everything submitted so far and try the spool once; False on timeout."""
        with self._cond:
            target = self._submitted
            self._flush_asked += 1
            ticket = self._flush_asked
            self._cond.notify_all()
            self._cond.wait_for(
                lambda: (
                    (self._handled >= target and self._flush_done >= ticket)
                    or not (self._thread and self._thread.is_alive())
                ),
                timeout,
            )
            return self._handled >= target

    def stop(self, timeout: float = 10.0) -> bool:
        """Flush, then end the thread; False if something could not be written or spooled in time."""
        if self._thread is None:
            return not self._queue
        deadline = time.monotonic() + timeout
        flushed = self.flush(timeout)
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        self._thread.join(max(0.0, deadline - time.monotonic()))
        return flushed and not self._thread.is_alive()

    def status(self) -> WriterStatus:
        """Counters and state, for the API."""
        return WriterStatus(
            backend=self.backend.name,
            store_up=self._store_up,
            queued_points=self._queued_points,
            spooled_batches=self.spool.count,
            spooled_bytes=self.spool.size_bytes,
            spool_full=self._spool_full,
            written_points=self._written,
            dropped_points=self._dropped,
            rejected_points=self._rejected,
            last_error=self._last_error,
            cache_bytes=self._cache_bytes,
        )

    # --- the thread -------------------------------------------------------------------------

    def _run(self) -> None:
        try:
            while self._step():
                pass
        except BaseException:
            log.critical("history writer thread crashed; readings are no longer stored", exc_info=True)
            raise
        finally:
            with self._cond:
                self._cond.notify_all()
                self._waiters.clear()  # never stored: left unacknowledged, the broker sends them again

    def _step(self) -> bool:
        """One round: take what is due from the queue, write or spool it, replay the spool if due."""
        with self._cond:
            self._wait_for_work()
            if self._stopping and not self._queue:
                return False
            ticket = self._flush_asked
            flushing = ticket > self._flush_done
            parts, whole = self._take_locked(force=flushing or self._stopping)
            last_of_flush = flushing and not self._queue
        if parts:
            try:
                self._handle(parts)
            except Exception as err:  # e.g. a value the spool cannot encode: drop it, keep the thread
                log.exception("history writer could not handle a batch")
                self._reject(_merge(parts), err)
        if self._replay_wanted() and (last_of_flush or time.monotonic() >= self._next_retry):
            try:
                self._replay(None if last_of_flush else REPLAY_SLICE_S)
            except Exception:  # e.g. the spool folder became unwritable: try again later
                log.exception("replaying the history spool failed")
                self._next_retry = time.monotonic() + self.retry_interval_s
        with self._cond:
            self._handled += whole
            if last_of_flush:
                self._flush_done = ticket
            self._cond.notify_all()
            due = self._due_waiters_locked()
        _call_all(due)
        return True

    def _due_waiters_locked(self) -> list[Callable[[], None]]:
        due = []
        while self._waiters and self._waiters[0][0] <= self._handled:
            due.append(self._waiters.popleft()[1])
        return due

    def _wait_for_work(self) -> None:
        """Sleep until a write is due, the spool should be tried, or a flush or stop is asked."""
        while not (
            self._stopping
            or self._flush_asked > self._flush_done
            or self._queued_points >= self.batch_max_points
        ):
            deadlines = []
            if self._oldest_at is not None:
                deadlines.append(self._oldest_at + self.flush_interval_s)
            if self._replay_wanted():
                deadlines.append(self._next_retry)
            wake = min(deadlines, default=None)
            now = time.monotonic()
            if wake is not None and now >= wake:
                return
            self._cond.wait(None if wake is None else wake - now)

    def _take_locked(self, *, force: bool) -> tuple[list[ReadingBatch], int]:
        """Up to batch_max_points from the queue if a write is due; also the number of whole batches."""
        overdue = self._oldest_at is not None and time.monotonic() >= self._oldest_at + self.flush_interval_s
        due = force or overdue or self._queued_points >= self.batch_max_points
        parts: list[ReadingBatch] = []
        points = whole = 0
        while due and self._queue and points < self.batch_max_points:
            head = self._queue[0]
            room = self.batch_max_points - points
            if len(head) <= room:
                parts.append(self._queue.popleft())
                points += len(head)
                whole += 1
            else:
                parts.append(head.slice(0, room))
                self._queue[0] = head.slice(room, len(head))
                points += room
        self._queued_points -= points
        if not self._queue:
            self._oldest_at = None
        return parts, whole

    def _replay_wanted(self) -> bool:
        return self.spool.count > 0 or not self._store_up

    # --- writing, spooling, replaying ----------------------------------------------------------

    def _handle(self, parts: list[ReadingBatch]) -> None:
        batch = _merge(parts)
        if not self._store_up or self.spool.count:
            self._spool_batch(batch)  # behind the backlog, to keep the order
            return
        err = self._write(batch)
        if err is None:
            return
        if _retryable(err):
            self._spool_batch(batch)
        elif len(parts) == 1:
            self._reject(batch, err)
        else:
            self._write_parts_alone(parts)

    def _write_parts_alone(self, parts: list[ReadingBatch]) -> None:
        """After a refused coalesced write, write each submitted batch alone, so only bad ones are lost."""
        for i, part in enumerate(parts):
            err = self._write(part)
            if err is None:
                continue
            if _retryable(err):
                self._spool_batch(_merge(parts[i:]))
                return
            self._reject(part, err)

    def _replay(self, slice_s: float | None) -> None:
        """Write spooled batches oldest first, until the spool is empty, the store fails, or time is up."""
        started = time.monotonic()
        while True:
            if self.spool.count == 0:
                err = self._ensure_open()  # nothing to replay: just probe the store
                if err is None:
                    self._mark_up()
                return
            item = self.spool.peek_oldest()
            if item is None:
                continue
            seq, batch = item
            err = self._write(batch)
            if err is not None and _retryable(err):
                return
            if err is not None:
                self._reject(batch, err)
            self.spool.remove(seq)
            self._check_spool_ok()
            if slice_s is not None and time.monotonic() - started >= slice_s:
                self._next_retry = time.monotonic()  # carry on after spooling what arrived meanwhile
                return

    def _ensure_open(self) -> Exception | None:
        if self._opened:
            return None
        try:
            self.backend.open()
        except Exception as err:  # any failure to open means the store is not usable now
            down = err if isinstance(err, StoreError) else StoreError(repr(err), backend=self.backend.name)
            down.retryable = True
            self._mark_down(down)
            return down
        self._opened = True
        return None

    def _write(self, batch: ReadingBatch) -> Exception | None:
        """Write one batch; None when written, else the error (the store is marked down if retryable)."""
        err = self._ensure_open()
        if err is not None:
            return err
        try:
            self.backend.write(batch)
        except StoreError as store_err:
            if store_err.retryable:
                self._mark_down(store_err)
            return store_err
        except Exception as other:  # a bug or data the backend did not translate: refuse, go on
            log.exception("history backend %s failed on a batch of %d", self.backend.name, len(batch))
            return other
        self._written += len(batch)
        self._mark_up()
        self._sample_cache()
        return None

    def _sample_cache(self) -> None:
        """Now and then, how much the store caches in memory (a query of its own, so not per write)."""
        now = time.monotonic()
        if now - self._cache_sampled_at < CACHE_SAMPLE_S:
            return
        self._cache_sampled_at = now
        try:
            self._cache_bytes = self.backend.cache_bytes()
        except StoreError as err:
            log.debug("history store did not say its cache size: %s", err)

    def _spool_batch(self, batch: ReadingBatch) -> None:
        try:
            saved = self.spool.append(batch)
            reason = f"the spool {self.spool.directory} is full ({self.spool.max_bytes} bytes)"
        except OSError as err:
            saved, reason = False, f"the spool {self.spool.directory} cannot be written: {err}"
        if saved:
            self._check_spool_ok()
            return
        self._dropped += len(batch)
        if not self._spool_full:
            self._spool_full = True
            message = f"history store unreachable and {reason}: new readings are being dropped"
            log.critical("%s", message)
            self._alarm(ALARM_SPOOL_FULL, message)
        else:
            log.warning("dropped %d readings (%s); %d dropped in all", len(batch), reason, self._dropped)

    def _check_spool_ok(self) -> None:
        if self._spool_full and self.spool.size_bytes <= SPOOL_OK_SHARE * self.spool.max_bytes:
            self._spool_full = False
            message = f"history spool has room again; {self._dropped} readings were dropped in all"
            log.warning("%s", message)
            self._alarm(ALARM_SPOOL_OK, message)

    def _reject(self, batch: ReadingBatch, err: Exception) -> None:
        self._rejected += len(batch)
        self._last_error = str(err)
        first = batch.device_id[0] if len(batch) else "-"
        log.error("history store refused %d readings (first device %s): %s", len(batch), first, err)

    def _mark_down(self, err: StoreError) -> None:
        self._last_error = str(err)
        self._opened = False  # open again (ping, create database) before the next try
        self._next_retry = time.monotonic() + self.retry_interval_s
        if self._store_up:
            self._store_up = False
            message = f"history store {self.backend.name} unreachable, readings are spooled to disk: {err}"
            log.error("%s", message)
            self._alarm(ALARM_STORE_DOWN, message)

    def _mark_up(self) -> None:
        if not self._store_up:
            self._store_up = True
            message = f"history store {self.backend.name} reachable again; replaying the spool"
            log.warning("%s", message)
            self._alarm(ALARM_STORE_UP, message)

    def _alarm(self, code: str, message: str) -> None:
        try:
            if self._on_alarm is not None:
                self._on_alarm(code, message)
        except Exception:
            log.exception("alarm callback failed for %s", code)


def _call_all(callbacks: list[Callable[[], None]]) -> None:
    for cb in callbacks:
        try:
            cb()
        except Exception:
            log.exception("a when_stored callback failed")


def _retryable(err: Exception) -> bool:
    return isinstance(err, StoreError) and err.retryable


def _merge(parts: list[ReadingBatch]) -> ReadingBatch:
    if len(parts) == 1:
        return parts[0]
    merged = ReadingBatch()
    for part in parts:
        merged.extend(part)
    return merged
