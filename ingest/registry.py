"""What ingest keeps besides readings: unregistered devices, recent dead letters and counters."""

from __future__ import annotations

import builtins
import logging
import threading
import time
from collections import Counter, deque
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from core.contract import DeadLetter

log = logging.getLogger(__name__)

PAYLOAD_KEEP = 2048


def payload_text(payload: bytes) -> str:
    """A payload as text for people: UTF-8 with bad bytes replaced, cut to 2 KiB."""
    text = payload[:PAYLOAD_KEEP].decode("utf-8", errors="replace")
    return text + ("…" if len(payload) > PAYLOAD_KEEP else "")


class UnregisteredDevice(BaseModel):
    """A device that sends data but is not in the twin: shown to operators, never dropped silently."""

    model_config = ConfigDict(frozen=True)

    device_id: str = Field(description="Id the device used")
    first_seen_ts: int = Field(description="First message, epoch ms")
    last_seen_ts: int = Field(description="Latest message, epoch ms")
    messages: int = Field(description="Messages received from it")
    last_topic: str = Field(description="Topic of the latest message")
    last_payload: str = Field(description="Latest payload as text (cut to 2 KiB)")


class UnregisteredDevices:
    """Bounded registry of unknown senders; the oldest is forgotten past `limit`."""

    def __init__(self, limit: int = 10_000) -> None:
        self.limit = limit
        self._items: dict[str, UnregisteredDevice] = {}
        self._lock = threading.Lock()

    def record(self, device_id: str, topic: str, payload: bytes, received_ms: int) -> bool:
        """Note a message from an unknown device; True if the device is new to the list."""
        with self._lock:
            old = self._items.pop(device_id, None)
            self._items[device_id] = UnregisteredDevice(
                device_id=device_id,
                first_seen_ts=old.first_seen_ts if old else received_ms,
                last_seen_ts=received_ms,
                messages=(old.messages if old else 0) + 1,
                last_topic=topic,
                last_payload=payload_text(payload),
            )
            while len(self._items) > self.limit:
                self._items.pop(next(iter(self._items)))
            return old is None

    def forget(self, device_id: str) -> None:
        with self._lock:
            self._items.pop(device_id, None)

    def list(self) -> list[UnregisteredDevice]:
        with self._lock:
            return sorted(self._items.values(), key=lambda d: d.last_seen_ts, reverse=True)

    def dump(self) -> builtins.list[dict[str, Any]]:
        return [d.model_dump() for d in self.list()]

    def load(self, items: builtins.list[dict[str, Any]]) -> None:
        with self._lock:
            for item in items:
                d = UnregisteredDevice.model_validate(item)
                self._items[d.device_id] = d


class DeadLetterLog:
    """Recent dead letters, counts by reason, and a log line that is not a flood."""

    def __init__(self, keep: int = 500, log_every_s: float = 60.0) -> None:
        self._recent: deque[DeadLetter] = deque(maxlen=keep)
        self.by_category: Counter[str] = Counter()
        self.total = 0
        self._log_every_s = log_every_s
        self._last_logged: dict[tuple[str | None, str], float] = {}
        self._suppressed: Counter[tuple[str | None, str]] = Counter()
        self._lock = threading.Lock()

    def add(self, category: str, letter: DeadLetter) -> None:
        with self._lock:
            self._recent.append(letter)
            self.by_category[category] += 1
            self.total += 1
            key = (letter.device_id, category)
            now = time.monotonic()
            last = self._last_logged.get(key)
            if last is not None and now - last < self._log_every_s:
                self._suppressed[key] += 1
                return
            self._last_logged[key] = now
            more = self._suppressed.pop(key, 0)
        log.warning(
            "dead letter (%s) from device %s on %s: field %s: %s%s",
            category,
            letter.device_id or "?",
            letter.topic,
            letter.field or "-",
            letter.reason,
            f" ({more} more like it since the last report)" if more else "",
        )

    def recent(self, limit: int = 100) -> list[DeadLetter]:
        with self._lock:
            return list(self._recent)[-limit:][::-1]
