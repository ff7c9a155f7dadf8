"""Live changes for the stream: alarms, work orders and device state, each with the place it concerns.

Publishers (the alarm writer's listener, the ingest listener) may call from any thread; each
subscriber gets its own bounded queue on the event loop, and a subscriber that falls behind loses
its oldest changes rather than holding up the others.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from dataclasses import dataclass, field
from typing import Any, Literal

from alarms.writer import ChangeSet
from ingest.pipeline import PipelineResult
from twin.state import LiveState
from twin.twin import Twin

log = logging.getLogger(__name__)

ChangeKind = Literal["alarm", "work_order", "device"]
QUEUE_MAX = 1000


@dataclass(frozen=True)
class Change:
    """One change as the stream sends it."""

    kind: ChangeKind
    site: str
    building: str
    data: dict[str, Any]


@dataclass(eq=False)  # each subscriber is itself, kept in a set
class _Subscriber:
    loop: asyncio.AbstractEventLoop
    queue: asyncio.Queue[Change] = field(default_factory=lambda: asyncio.Queue(QUEUE_MAX))
    dropped: int = 0


class ChangeHub:
    """Fans changes out to the streams that are open."""

    def __init__(self, twin: Twin, live: LiveState) -> None:
        self.twin = twin
        self.live = live
        self._subs: set[_Subscriber] = set()
        self._lock = threading.Lock()

    def subscribe(self) -> _Subscriber:
        """A new subscriber on the running loop."""
        sub = _Subscriber(asyncio.get_running_loop())
        with self._lock:
            self._subs.add(sub)
        return sub

    def unsubscribe(self, sub: _Subscriber) -> None:
        with self._lock:
            self._subs.discard(sub)

    def publish(self, changes: list[Change]) -> None:
        """Hand changes to every subscriber (from any thread)."""
        if not changes:
            return
        with self._lock:
            subs = list(self._subs)
        for sub in subs:
            try:
                sub.loop.call_soon_threadsafe(_put_all, sub, changes)
            except RuntimeError:  # its loop is closed: the stream is gone
                self.unsubscribe(sub)

    @property
    def listening(self) -> bool:
        """Whether any stream is open (changes are built only then: ingest is the hot path)."""
        return bool(self._subs)

    def on_change_set(self, changes: ChangeSet) -> None:
        """Alarm-writer listener: alarm and work-order changes."""
        if not self.listening:
            return
        out = [
            Change("alarm", a.site, a.building, a.model_dump(mode="json")) for a in changes.alarms.values()
        ]
        out += [
            Change("work_order", o.site, o.building, o.model_dump(mode="json"))
            for o in changes.work_orders.values()
        ]
        self.publish(out)

    def on_pipeline_result(self, result: PipelineResult) -> None:
        """Ingest listener: the live state of each device that reported."""
        if not self.listening:
            return
        ids = set(result.readings.device_id) | {dev for dev, _ in result.availability}
        out: list[Change] = []
        for dev in sorted(ids):
            place = self.twin.device(dev)
            if place is not None:
                view = self.live.view(dev).model_dump(mode="json")
                out.append(Change("device", place.site, place.building, {"id": dev, "live": view}))
        self.publish(out)


def _put_all(sub: _Subscriber, changes: list[Change]) -> None:
    for change in changes:
        if sub.queue.full():
            sub.queue.get_nowait()
            sub.dropped += 1
        sub.queue.put_nowait(change)
