"""The garbage collector of a process that holds a large twin.

CPython's full collections walk every container object that is alive.  A worker holding a
400,000-device twin and its rule state has millions of them, so each full collection paused the
event loop for about 200 ms (40,000 devices) and collections took a third of ingest's CPU, while
finding next to nothing to free: the twin, its indexes and each device's rule tracks live as long
as the process.  So what is alive once start-up is done is moved out of the collector's sight
(`gc.freeze`), and again every few seconds (`refreeze`, after a collection of the youngest
generation), so the tracks rules create as devices are first heard from join it, and the oldest
generation is not collected automatically.  Reference counting still frees everything that is not
part of a cycle, frozen or not; a cycle that becomes garbage after it was frozen is kept.  The
pauses and what collections free are counted (`/metrics`): young collections free a few objects a
second and full ones freed none (figures in docs/scaling.md).
"""

from __future__ import annotations

import gc
import logging
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, TypeVar

log = logging.getLogger(__name__)

# Collection thresholds.  Generation 0 is collected every 1,000 net allocations and generation 1
# every 2 of those.  What a young collection finds alive in a busy worker is mostly alive for
# seconds (readings waiting for history, the state of devices heard for the first time), and each
# survivor is walked about once in each young generation whatever the thresholds, so small ones
# cost about the same in all but pause the loop for less: at 15,000 readings/s the longest pauses
# went from 11-15 ms (generation 0) and 42-56 ms (generation 1) at (5,000, 10) to 3-11 ms and
# 7-13 ms, for about the same time spent in collections.  CPython's own 700 ran a collection every
# few readings.  Generation 2, the long-lived objects, is never collected automatically: `refreeze`
# moves it out of sight every few seconds anyway, and its full collections were the 100-300 ms
# pauses.
THRESHOLDS = (1_000, 2, 1_000_000_000)

# The event loop shares the interpreter lock with the history, record and notification threads.
# A thread that wants the lock asks the holder to let go after the switch interval, 5 ms by
# default, and the loop gives the lock up at every socket read and write: each could cost it 5 ms.
SWITCH_INTERVAL_S = 0.0005


@dataclass
class GcPauses:
    """What the collector did since start: runs, longest pause and objects freed, by generation."""

    runs: list[int] = field(default_factory=lambda: [0, 0, 0])
    longest_s: list[float] = field(default_factory=lambda: [0.0, 0.0, 0.0])
    freed: list[int] = field(default_factory=lambda: [0, 0, 0])
    total_s: float = 0.0
    _started: float = 0.0

    def install(self) -> None:
        if self._callback not in gc.callbacks:
            gc.callbacks.append(self._callback)

    def _callback(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
            return
        took = time.perf_counter() - self._started
        g = int(info["generation"])
        self.runs[g] += 1
        self.longest_s[g] = max(self.longest_s[g], took)
        self.freed[g] += int(info.get("collected", 0))
        self.total_s += took


PAUSES = GcPauses()
T = TypeVar("T")
_STATE = {"settled": False}  # `settle` ran: the collector works as this module arranges


def settle() -> None:
    """Once start-up is done: collect once, freeze what is alive, measure pauses from now on, and
    let the event loop have the interpreter lock back sooner (`SWITCH_INTERVAL_S`)."""
    gc.collect()
    gc.freeze()
    _STATE["settled"] = True
    gc.set_threshold(*THRESHOLDS)
    sys.setswitchinterval(SWITCH_INTERVAL_S)
    PAUSES.install()
    log.info("%d long-lived objects kept out of garbage collection", gc.get_freeze_count())


def refreeze() -> None:
    """Collect the youngest generation, then freeze what survived; a few milliseconds, call it often."""
    gc.collect(0)
    gc.freeze()


def steady_copy(items: Iterable[T]) -> list[T]:
    """`list(items)` for a snapshot taken in steps, moved out of the collector's sight at once.

    Every collection that finds a list young visits each of its entries.  A copy of 400,000 device
    or track ids made a young collection take 12 ms, and the next generation's as long again,
    while the youngest generation held only about 1,000 objects.  Frozen, the copy is never
    visited, and it is freed as usual when the snapshot drops it.  The youngest generation is
    collected first, as `refreeze` does, so nothing that is garbage now is frozen with the copy.
    Before `settle` (tests, tools), a plain list.
    """
    if not _STATE["settled"]:
        return list(items)
    gc.collect(0)
    out = list(items)
    gc.freeze()
    return out
