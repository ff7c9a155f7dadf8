"""One analysed camera: its reader thread, its frames through the worker pool, its events.

Each camera is one asyncio task with at most one frame in the pool at a time; frames that arrive
meanwhile replace each other (drop-oldest), so a slow camera or detector never holds up another.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from core.contract import Detection, DetectionEventType, now_ms
from twin.kinds import SpaceKind
from twin.model import CameraSpec
from twin.twin import DevicePlace
from vision.analytics import CameraAnalytics
from vision.boxes import Box
from vision.detectors.base import Frame
from vision.events import Condition, EventManager, EventMessage, snapshot_name
from vision.settings import VisionSettings
from vision.sources import FrameReader, FrameSource, SourceStatus, redact
from vision.worker import DetectorSpec, FrameResult, render_snapshot, run_detectors

log = logging.getLogger(__name__)

Publish = Callable[[str, Detection], None]
ExtraConditions = Callable[["CameraRunner", int, int], list[Condition]]  # (camera, people, ts)


@dataclass(slots=True)
class CameraStats:
    analysed: int = 0
    events: int = 0
    people: int = 0
    last_ms: float = 0.0  # detector time of the last frame, ms


class _Latest:
    """A one-frame slot filled by the reader thread and emptied by the camera task."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._lock = threading.Lock()
        self._item: tuple[Frame, int] | None = None
        self.status = SourceStatus()  # replaced by the reader's, which counts the drops
        self.ready = asyncio.Event()

    def put(self, frame: Frame, ts: int) -> None:
        with self._lock:
            if self._item is not None:
                self.status.dropped += 1
            self._item = (frame, ts)
        self._loop.call_soon_threadsafe(self.ready.set)

    def take(self) -> tuple[Frame, int] | None:
        with self._lock:
            item, self._item = self._item, None
            self.ready.clear()
        return item


class CameraRunner:
    """Reads, analyses and reports one camera."""

    def __init__(
        self,
        place: DevicePlace,
        spec: CameraSpec,
        settings: VisionSettings,
        detectors: tuple[DetectorSpec, ...],
        publish: Publish,
        extra: ExtraConditions | None = None,
    ) -> None:
        self.place = place
        self.camera_id = place.device_id
        self.spec = spec
        self.settings = settings
        self.detectors = detectors
        self.publish = publish
        self.extra = extra
        a = settings.analytics
        self.analytics = CameraAnalytics(
            spec.zones, a, construction_site=place.space_kind == SpaceKind.CONSTRUCTION_SITE
        )
        self.events = EventManager(
            self.camera_id,
            min_event_ms=int(a.min_event_s * 1000),
            end_after_ms=int(a.end_after_s * 1000),
            update_every_ms=int(a.update_every_s * 1000),
            url_base=settings.snapshot_url_base,
        )
        self.source = FrameSource(self.camera_id, spec, settings.media_dir)
        self.stats = CameraStats()
        self.last_frame: Frame | None = None
        self.last_boxes: list[Box] = []
        self._previous: NDArray[np.uint8] | None = None
        self._errors_logged: set[str] = set()
        self.reader: FrameReader | None = None

    @property
    def source_status(self) -> SourceStatus:
        return self.reader.status if self.reader is not None else SourceStatus()

    def describe_source(self) -> str:
        return redact(self.spec.source)

    async def run(self, pool: Executor) -> None:
        """Analyse frames until cancelled; open events are ended on the way out."""
        loop = asyncio.get_running_loop()
        slot = _Latest(loop)
        self.reader = FrameReader(
            self.source,
            slot.put,
            reconnect_min_s=self.settings.reconnect_min_s,
            reconnect_max_s=self.settings.reconnect_max_s,
        )
        slot.status = self.reader.status
        self.reader.start()
        try:
            while True:
                await slot.ready.wait()
                item = slot.take()
                if item is not None:
                    await self._analyse(pool, *item)
        finally:
            reader, self.reader = self.reader, None
            await asyncio.to_thread(reader.stop)
            self.reader = reader
            for msg in self.events.close_all(now_ms()):
                self._emit(msg)

    async def _analyse(self, pool: Executor, frame: Frame, ts: int) -> None:
        loop = asyncio.get_running_loop()
        result: FrameResult = await loop.run_in_executor(
            pool, run_detectors, frame, self.detectors, self._previous
        )
        self._previous = result.small
        self._log_errors(result.errors)
        self.stats.analysed += 1
        self.stats.last_ms = result.elapsed_ms
        self.last_frame, self.last_boxes = frame, result.boxes
        helmet_aware = bool(result.labels & {"helmet", "head"})
        findings = self.analytics.process(result.boxes, ts, helmet_aware=helmet_aware)
        self.stats.people = findings.people
        conditions = findings.conditions
        if self.extra is not None:
            conditions = conditions + self.extra(self, findings.people, ts)
        for msg in self.events.step(conditions, ts):
            if msg.snapshot:
                await self.snapshot(pool, frame, result.boxes, msg.detection)
            self._emit(msg)

    def _emit(self, msg: EventMessage) -> None:
        if msg.detection.type == DetectionEventType.NEW:
            self.stats.events += 1
            log.info(
                "camera %s: %s event %s %s",
                self.camera_id,
                msg.detection.label.value,
                msg.detection.event_id,
                msg.detection.zones or "",
            )
        self.publish(self.camera_id, msg.detection)

    async def snapshot(self, pool: Executor, frame: Frame, boxes: list[Box], det: Detection) -> None:
        """Store the event's JPEG with the boxes drawn; a failure is logged, the event still goes out."""
        focus = Box(det.label.value, det.score, *det.box) if det.box is not None else None
        path = Path(self.settings.snapshot_dir) / snapshot_name(det.event_id)
        caption = f"{det.label.value} {det.score:.2f}"
        try:
            await asyncio.get_running_loop().run_in_executor(
                pool, render_snapshot, frame, boxes, focus, caption, path
            )
        except OSError as err:
            log.error("camera %s: snapshot %s not stored: %s", self.camera_id, path, err)

    def _log_errors(self, errors: list[str]) -> None:
        for err in errors:
            if err not in self._errors_logged:
                self._errors_logged.add(err)
                log.error("camera %s: %s; the camera runs without that detector", self.camera_id, err)
