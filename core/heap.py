"""The garbage collector of a process that holds a large twin.

CPython's full collections walk every container object that is alive.  A worker holding a
400,000-device twin and its rule state has millions of them, so each full collection paused the
event loop for about 200 ms (40,000 devices) and collections took a third of ingest's CPU, while
finding next to nothing to free: the twin, its indexes and each device's rule tracks live as long
as the process.  So what is alive once start-up is done is moved out of the collector's sight
(`gc.freeze`), and again every few seconds (`refreeze`), after a collection of the youngest
generation, so the tracks rules create as devices are first heard from join it.  Reference counting still frees
everything that is not part of a cycle, frozen or not.  A cycle that became garbage shortly
before a refreeze is kept; the pauses below count what collections free, and it stays at a few
objects a minute (figures in docs/scaling.md).
"""

from __future__ import annotations

import gc
import logging
import time
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger(__name__)

# Young-generation threshold: allocations between collections of generation 0.  CPython's 700 runs
# a collection for every few readings at 20,000 readings/s; each one costs little but they add up.
YOUNG_THRESHOLD = 20_000


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

    def uninstall(self) -> None:
        if self._callback in gc.callbacks:
            gc.callbacks.remove(self._callback)

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


def settle() -> None:
    """Once start-up is done: collect once, freeze what is alive, measure pauses from now on."""
    gc.collect()
    gc.freeze()
    _, t1, t2 = gc.get_threshold()
    gc.set_threshold(YOUNG_THRESHOLD, t1, t2)
    PAUSES.install()
    log.info("%d long-lived objects kept out of garbage collection", gc.get_freeze_count())


def refreeze() -> None:
    """Collect the youngest generation, then freeze what survived; a few milliseconds, call it often."""
    gc.collect(0)
    gc.freeze()
