"""Delivers recorded notifications through the configured channels, off the ingest path, with retries.

`submit()` returns at once from any thread (the alarm manager calls it under its lock); a task on the
event loop routes each notification to the drivers that serve the channels it asks for, tries each a
bounded number of times with exponential backoff, and records every outcome on the notification, so
the API shows what really happened.  A failure is logged with the channel and the reason, counted,
and a channel that keeps failing becomes an alarm about SafeTwin itself.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from pydantic import BaseModel, Field

from actuators.channels.base import Channel, DeliveryResult
from actuators.channels.settings import NotificationSettings
from actuators.response import ChannelOutcome, Notification
from core.contract import now_ms
from core.records import SystemAlarm

log = logging.getLogger(__name__)


class ChannelStatus(BaseModel):
    """Counters of one channel driver since start."""

    name: str
    serves: list[str] = Field(description="Requested channels it carries")
    delivered: int = Field(0, description="Notifications it delivered")
    failed: int = Field(0, description="Notifications it gave up on")
    attempts: int = Field(0, description="Attempts made, retries included")
    failing_in_a_row: int = Field(0, description="Notifications failed since the last success")
    last_error: str | None = Field(None, description="Reason of the last failed attempt")
    last_error_ts: int | None = Field(None, description="When, epoch ms")


@dataclass
class _Job:
    note_id: str
    channel: Channel
    note: Notification  # as submitted: what the channel sends


class Notifier:
    """Routes, delivers and records notifications; `run()` is its task."""

    def __init__(
        self,
        settings: NotificationSettings,
        *,
        on_update: Callable[[Notification], None] | None = None,
        channels: Sequence[Channel] | None = None,
    ) -> None:
        self.settings = settings
        self.channels = list(channels) if channels is not None else [c.build() for c in settings.channels]
        self.on_update = on_update
        self.status = {c.name: ChannelStatus(name=c.name, serves=sorted(c.serves)) for c in self.channels}
        self.not_configured: dict[str, int] = {}
        self._inbox: deque[Notification] = deque()
        self._lock = threading.Lock()
        self._notes: dict[str, Notification] = {}  # being delivered, by id
        self._pending: dict[str, int] = {}  # note id -> deliveries not finished
        self._wake = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._since: dict[str, int] = {}  # channel -> when it started failing

    # --- intake (any thread) ---------------------------------------------------------------------

    def submit(self, note: Notification) -> None:
        """Queue `note` for delivery; returns at once."""
        dropped: Notification | None = None
        with self._lock:
            if len(self._inbox) >= self.settings.queue_max:
                dropped = self._inbox.popleft()
            self._inbox.append(note)
        if dropped is not None:
            log.error(
                "notification queue full: %s for %s is dropped undelivered", dropped.id, dropped.alarm_id
            )
            self._publish(self._finish_all(dropped, "notification queue full; not delivered"))
        loop = self._loop
        if loop is not None:
            loop.call_soon_threadsafe(self._wake.set)

    def route(self, note: Notification) -> tuple[list[ChannelOutcome], list[Channel]]:
        """One outcome per (requested channel, driver serving it); each driver once."""
        outcomes: list[ChannelOutcome] = []
        drivers: dict[str, Channel] = {}
        ts = now_ms()
        for wanted in dict.fromkeys(note.channels):
            serving = [c for c in self.channels if wanted in c.serves]
            if not serving:
                outcomes.append(
                    ChannelOutcome(
                        channel=wanted,
                        status="not_configured",
                        detail=f"no channel driver serves {wanted!r}",
                        ts=ts,
                    )
                )
                continue
            for channel in serving:
                drivers.setdefault(channel.name, channel)
                outcomes.append(ChannelOutcome(channel=wanted, driver=channel.name, status="queued", ts=ts))
        return outcomes, list(drivers.values())

    # --- delivery (event loop) -------------------------------------------------------------------

    async def run(self) -> None:
        """Deliver what is submitted, until cancelled."""
        self._loop = asyncio.get_running_loop()
        limit = asyncio.Semaphore(self.settings.max_concurrent)
        tasks: set[asyncio.Task[None]] = set()
        try:
            while True:
                self._wake.clear()
                while (note := self._next()) is not None:
                    for job in self._start(note):
                        task = asyncio.create_task(
                            self._deliver(job, limit), name=f"notify-{job.channel.name}"
                        )
                        tasks.add(task)
                        task.add_done_callback(tasks.discard)
                await self._wake.wait()
        finally:
            for task in list(tasks):
                task.cancel()
            for note in list(self._notes.values()):
                self._publish(self._finish_all(note, "SafeTwin stopped before delivery"))

    def _next(self) -> Notification | None:
        with self._lock:
            return self._inbox.popleft() if self._inbox else None

    def _start(self, submitted: Notification) -> list[_Job]:
        outcomes, drivers = self.route(submitted)
        for o in outcomes:
            if o.status == "not_configured":
                self._count_unconfigured(o.channel, submitted)
        note = self._summarise(submitted.model_copy(update={"outcomes": outcomes}))
        if drivers:
            self._notes[note.id] = note
            self._pending[note.id] = len(drivers)
        self._publish(note)
        return [_Job(note.id, channel, submitted) for channel in drivers]

    async def _deliver(self, job: _Job, limit: asyncio.Semaphore) -> None:
        note = job.note
        channel = job.channel
        stats = self.status[channel.name]
        result = DeliveryResult(False, "not tried")
        attempt = 0
        while attempt < self.settings.max_attempts:
            attempt += 1
            stats.attempts += 1
            async with limit:  # not held while waiting to retry: a dead channel must not block the others
                result = await self._attempt(channel, note)
            if result.ok or not result.retryable:
                break
            if attempt < self.settings.max_attempts:
                why = f"attempt {attempt} failed: {result.detail}; retrying"
                self._record(job, "queued", attempt, why)
                await asyncio.sleep(self._backoff(attempt))
        self._conclude(job, stats, result, attempt)

    async def _attempt(self, channel: Channel, note: Notification) -> DeliveryResult:
        try:
            result = await channel.deliver(note)
        except Exception as err:  # a driver bug must not stop the others; it is recorded as a failure
            log.exception("channel %s raised while delivering %s", channel.name, note.id)
            result = DeliveryResult(False, f"{type(err).__name__}: {err}")
        if not result.ok:
            log.warning("channel %s: notification %s not delivered: %s", channel.name, note.id, result.detail)
            self.status[channel.name].last_error = result.detail
            self.status[channel.name].last_error_ts = now_ms()
        return result

    def _backoff(self, attempt: int) -> float:
        return float(min(self.settings.backoff_s * 2 ** (attempt - 1), self.settings.backoff_max_s))

    def _conclude(self, job: _Job, stats: ChannelStatus, result: DeliveryResult, attempts: int) -> None:
        note = self._notes[job.note_id]
        if result.ok:
            stats.delivered += 1
            stats.failing_in_a_row = 0
            self._since.pop(job.channel.name, None)
            self._record(job, "delivered", attempts, result.detail)
            log.info("notification %s for %s delivered by %s", note.id, note.alarm_id, job.channel.name)
        else:
            stats.failed += 1
            stats.failing_in_a_row += 1
            self._since.setdefault(job.channel.name, now_ms())
            self._record(job, "failed", attempts, f"{result.detail} (after {attempts} attempt(s))")
            log.error(
                "notification %s for %s FAILED on channel %s after %d attempt(s): %s",
                note.id,
                note.alarm_id,
                job.channel.name,
                attempts,
                result.detail,
            )
        self._pending[job.note_id] -= 1
        if self._pending[job.note_id] <= 0:
            self._pending.pop(job.note_id, None)
            self._notes.pop(job.note_id, None)

    def _record(self, job: _Job, status: str, attempts: int, detail: str) -> None:
        note = self._notes[job.note_id]
        ts = now_ms()
        outcomes = [
            o.model_copy(update={"status": status, "attempts": attempts, "detail": detail, "ts": ts})
            if o.driver == job.channel.name
            else o
            for o in note.outcomes
        ]
        note = self._summarise(note.model_copy(update={"outcomes": outcomes}))
        self._notes[job.note_id] = note
        self._publish(note)

    # --- records ---------------------------------------------------------------------------------

    @staticmethod
    def _summarise(note: Notification) -> Notification:
        """`delivered` and `detail` from the outcomes."""
        parts: dict[str, list[str]] = {}
        for o in note.outcomes:
            label = o.channel if o.driver is None else f"{o.channel} via {o.driver}"
            text = f"{label} ({o.detail})" if o.status == "failed" and o.detail else label
            parts.setdefault(o.status.replace("_", " "), []).append(text)
        detail = "; ".join(f"{status}: {', '.join(items)}" for status, items in parts.items())
        delivered = any(o.status == "delivered" for o in note.outcomes)
        return note.model_copy(update={"delivered": delivered, "detail": detail or "no channel asked for"})

    def _finish_all(self, note: Notification, why: str) -> Notification:
        ts = now_ms()
        outcomes = note.outcomes or self.route(note)[0]
        done = [
            o if o.status != "queued" else o.model_copy(update={"status": "failed", "detail": why, "ts": ts})
            for o in outcomes
        ]
        self._notes.pop(note.id, None)
        self._pending.pop(note.id, None)
        return self._summarise(note.model_copy(update={"outcomes": done}))

    def _count_unconfigured(self, channel: str, note: Notification) -> None:
        first = channel not in self.not_configured
        self.not_configured[channel] = self.not_configured.get(channel, 0) + 1
        if first:
            log.warning(
                "notification %s asks for channel %r but no channel driver serves it; configure one in "
                "notifications.channels (first of such notifications; all are counted)",
                note.id,
                channel,
            )

    def _publish(self, note: Notification) -> None:
        if self.on_update is not None:
            try:
                self.on_update(note)
            except Exception:
                log.exception("recording the outcome of notification %s failed", note.id)

    def system_alarms(self) -> list[SystemAlarm]:
        """Channels that failed `failing_after` notifications in a row."""
        return [
            SystemAlarm(
                key=f"notification_channel_failing:{s.name}",
                severity="critical",
                message=(
                    f"notification channel {s.name} failed {s.failing_in_a_row} notifications in a row "
                    f"(last: {s.last_error}); people are not being told: check the channel's settings "
                    "and the gateway"
                ),
                since_ts=self._since.get(s.name, now_ms()),
            )
            for s in self.status.values()
            if s.failing_in_a_row >= self.settings.failing_after
        ]
