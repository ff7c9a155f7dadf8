"""Per-device routing of the engine: who listens to a device, and the device's clock; reading order."""

from __future__ import annotations

import operator
from collections.abc import Iterator
from itertools import islice

from core.records import ReadingBatch
from rules.kinds.base import Evaluator, Handler, SeenHook


class Slot:
    """Per-device routing and clock: who listens to the device, and its last times."""

    __slots__ = (
        "avail",
        "dead",
        "det",
        "handlers",
        "heard",
        "last_recv",
        "last_ts",
        "late",
        "seen",
        "watchers",
    )

    def __init__(self) -> None:
        self.last_ts = -1  # device time of the newest reading evaluated
        self.last_recv = 0  # receive time of that reading
        self.heard = 0  # newest receive time of anything from the device
        self.clear()

    def clear(self) -> None:
        self.handlers: dict[str, list[Handler]] = {}
        self.late: dict[str, list[Handler]] = {}
        self.seen: list[SeenHook] = []
        self.det: list[Evaluator] = []
        self.dead: list[Evaluator] = []
        self.avail: list[Evaluator] = []
        self.watchers: list[Evaluator] = []  # every evaluator with the device among its sources


def rows(batch: ReadingBatch) -> Iterator[tuple[str, str, float, int, int]]:
    """(device, metric, value, ts, received) in time order: each device's readings in order.

    A batch already in time order (the usual case) is not copied; otherwise a stable sort by ts
    keeps arrival order between readings of the same time.
    """
    ts = batch.ts
    cols = (batch.device_id, batch.metric, batch.value, ts, batch.received_ts)
    if all(map(operator.le, ts, islice(ts, 1, None))):
        return zip(*cols, strict=True)
    order = sorted(range(len(ts)), key=ts.__getitem__)
    return zip(*([c[i] for i in order] for c in cols), strict=True)
