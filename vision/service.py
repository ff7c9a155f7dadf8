"""The vision service: one task per analysed camera, the event publisher, the roster listener.

The runtime builds a `VisionService`, gives the API a handle on it, adds `on_pipeline_result` to
ingest's listeners (access events for the roster) and runs `run(stop)` in its TaskGroup.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import multiprocessing
import os
import re
from collections import deque
from concurrent.futures import ProcessPoolExecutor
from typing import TYPE_CHECKING

from pydantic import TypeAdapter

from core.contract import AccessEvent, Detection, DetectionLabel, Topics, now_ms
from core.settings import MqttSettings
from twin.kinds import DeviceKind
from twin.twin import DevicePlace, Twin
from vision.boxes import PERSON, Box
from vision.camera import CameraRunner
from vision.change import ChangeResult, GeoBounds, detect_changes
from vision.errors import DetectorError, VisionUnavailable
from vision.events import Condition, EventManager
from vision.publisher import EventPublisher
from vision.roster import Roster
from vision.settings import DetectorConfig, VisionSettings
from vision.snap import SnapFinding, SnapReport, hazards_of, image_path, new_report_id, report_path
from vision.worker import DetectorSpec, init_worker, snap_photo

if TYPE_CHECKING:
    from ingest.pipeline import PipelineResult

log = logging.getLogger(__name__)

_CONFIG: TypeAdapter[DetectorConfig] = TypeAdapter(DetectorConfig)
HEADCOUNT_KEY = "unregistered:headcount"
_REPORT_ID = re.compile(r"^snap-[0-9]+-[0-9a-f]{8}$")


class VisionService:
    """SafeTwin's own video analytics for the twin's plain IP cameras."""

    def __init__(self, settings: VisionSettings, twin: Twin, topics: Topics, mqtt: MqttSettings) -> None:
        self.settings = settings
        self.twin = twin
        self.topics = topics
        self.publisher = EventPublisher(
            mqtt, topics, client_id=settings.client_id, queue_max=settings.publish_queue
        )
        self.roster = Roster(settings.roster_path)
        self.cameras: dict[str, CameraRunner] = {}
        self.recent: deque[tuple[str, Detection]] = deque(maxlen=500)
        self.pool: ProcessPoolExecutor | None = None
        self._access: asyncio.Queue[tuple[str, AccessEvent]] | None = None
        self._excess_since: dict[str, int] = {}
        self._gate_events: dict[str, EventManager] = {}
        for place in twin.devices.values():
            spec = place.spec.camera
            if place.kind == DeviceKind.CAMERA and spec is not None and settings.enabled:
                specs = self.detector_specs(spec.detectors, f"camera {place.device_id}")
                self.cameras[place.device_id] = CameraRunner(
                    place, spec, settings, specs, self._publish, self._headcount
                )

    def detector_specs(self, names: list[str] | None, who: str) -> tuple[DetectorSpec, ...]:
        """(name, config JSON) of the named detectors (the defaults if None); unknown names refused."""
        chosen = self.settings.default_detectors if names is None else names
        unknown = [n for n in chosen if n not in self.settings.detectors]
        if unknown:
            raise DetectorError(
                ",".join(unknown),
                f"named by {who} but not in vision.detectors {sorted(self.settings.detectors)}",
            )
        return tuple((n, _CONFIG.dump_json(self.settings.detectors[n]).decode()) for n in chosen)

    # --- lifecycle ----------------------------------------------------------------------------

    def open(self) -> None:
        """Start the worker pool (spawned processes: safe beside threads and the event loop)."""
        if self.pool is None:
            n = self.settings.workers or max(1, (os.cpu_count() or 2) - 1)
            ctx = multiprocessing.get_context("spawn")
            self.pool = ProcessPoolExecutor(n, mp_context=ctx, initializer=init_worker)
            self.settings.snapshot_dir.mkdir(parents=True, exist_ok=True)
            self.settings.report_dir.mkdir(parents=True, exist_ok=True)
            log.info("vision: %d worker processes, %d cameras analysed", n, len(self.cameras))

    def close(self) -> None:
        """Stop the worker pool and close the roster."""
        if self.pool is not None:
            self.pool.shutdown(wait=True, cancel_futures=True)
            self.pool = None
        self.roster.close()

    async def run(self, stop: asyncio.Event) -> None:
        """Run every camera, the publisher and the access listener until `stop` is set."""
        self.open()
        assert self.pool is not None
        self._access = asyncio.Queue(maxsize=10_000)
        try:
            async with asyncio.TaskGroup() as tg:
                pub = tg.create_task(self.publisher.run(), name="vision-publisher")
                tasks = [tg.create_task(self._access_loop(), name="vision-access")]
                tasks.append(tg.create_task(self._prune_loop(), name="vision-prune"))
                for cam_id, cam in self.cameras.items():
                    tasks.append(tg.create_task(cam.run(self.pool), name=f"vision-{cam_id}"))
                await stop.wait()
                for t in tasks:
                    t.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await asyncio.gather(*tasks, return_exceptions=True)
                await self.publisher.drain(3.0)  # the cameras' last 'end' messages
                pub.cancel()
        finally:
            self._access = None
            await asyncio.to_thread(self.close)

    # --- events -------------------------------------------------------------------------------

    def _publish(self, camera_id: str, det: Detection) -> None:
        self.recent.appendleft((camera_id, det))
        self.publisher.submit(camera_id, det)

    def _headcount(self, cam: CameraRunner, people: int, ts: int) -> list[Condition]:
        """More people in view than registered workers checked in at the site: unregistered people."""
        site = cam.place.site
        if not self.roster.enforced(site):
            return []
        excess = people - self.roster.checked_in(site)
        if excess <= 0:
            self._excess_since.pop(cam.camera_id, None)
            return []
        since = self._excess_since.setdefault(cam.camera_id, ts)
        if ts - since < self.settings.analytics.headcount_grace_s * 1000:
            return []
        persons = [b for b in cam.last_boxes if b.label == PERSON]
        box = (
            Box(PERSON, 0.5, min(b.x1 for b in persons), min(b.y1 for b in persons),
                max(b.x2 for b in persons), max(b.y2 for b in persons))
            if persons else None
        )  # fmt: skip
        return [Condition(HEADCOUNT_KEY, DetectionLabel.UNREGISTERED_PERSON, 0.5, box)]

    # --- access events (roster) ---------------------------------------------------------------

    def on_pipeline_result(self, result: PipelineResult) -> None:
        """Ingest listener: hand access events to the service's task; never blocks the ingest loop."""
        if self._access is None:
            return
        for reader_id, event in result.access:
            try:
                self._access.put_nowait((reader_id, event))
            except asyncio.QueueFull:
                log.error(
                    "vision: access event of %s at %s dropped, the queue is full", event.person_id, reader_id
                )

    async def _access_loop(self) -> None:
        assert self._access is not None
        while True:
            reader_id, event = await self._access.get()
            try:
                await self.handle_access(reader_id, event)
            except Exception:  # one bad event must not stop the roster
                log.exception("vision: access event from %s failed", reader_id)

    async def handle_access(self, reader_id: str, event: AccessEvent) -> Detection | None:
        """Record a check-in/out; an unregistered person raises an alert on the gate's camera."""
        place = self.twin.device(reader_id)
        if place is None:
            return None
        known = await asyncio.to_thread(
            self.roster.record_access, place.site, event.person_id, event.direction, event.ts
        )
        if known or event.direction != "in":
            return None
        camera = self.gate_camera(place)
        if camera is None:
            log.warning(
                "unregistered person %s at reader %s of site %s, but the site has no camera to report it on",
                event.person_id,
                reader_id,
                place.site,
            )
            return None
        log.warning(
            "unregistered person %s checked in at %s (site %s)", event.person_id, reader_id, place.site
        )
        return await self._gate_alert(camera, event)

    def gate_camera(self, reader: DevicePlace) -> str | None:
        """The site's camera that best sees the reader: same space, analysed by vision, nearest."""
        cams = [p for p in self.twin.devices_in(site=reader.site) if p.kind == DeviceKind.CAMERA]
        if not cams:
            return None
        here = self._where(reader)
        return min(
            cams,
            key=lambda c: (
                c.space != reader.space,
                c.device_id not in self.cameras,
                _dist(here, self._where(c)),
            ),
        ).device_id

    def _where(self, place: DevicePlace) -> tuple[float, float]:
        spec, space = place.spec, self.twin.spaces[place.space]
        loc = spec.location or space.location
        if loc is None and place.building:
            loc = self.twin.buildings[place.building].location
        loc = loc or self.twin.sites[place.site].location
        return loc.lat, loc.lon

    async def _gate_alert(self, camera_id: str, event: AccessEvent) -> Detection:
        runner = self.cameras.get(camera_id)
        events = runner.events if runner is not None else self._gate_events.setdefault(
            camera_id,
            EventManager(camera_id, min_event_ms=0, end_after_ms=1, update_every_ms=1,
                         url_base=self.settings.snapshot_url_base),
        )  # fmt: skip
        ts = now_ms()
        msgs = events.one_shot(DetectionLabel.UNREGISTERED_PERSON, ts, 1.0, None)
        new = msgs[0].detection
        if runner is not None and runner.last_frame is not None and self.pool is not None:
            await runner.snapshot(self.pool, runner.last_frame, runner.last_boxes, new)
        else:
            msgs = [type(m)(m.detection.model_copy(update={"snapshot_url": None}), False) for m in msgs]
        for m in msgs:
            self._publish(camera_id, m.detection)
        return msgs[0].detection

    # --- AI snap and change detection (for the API) ---------------------------------------------

    def _need_pool(self) -> ProcessPoolExecutor:
        if self.pool is None:
            raise VisionUnavailable("the vision service is not running; enable vision and start SafeTwin")
        return self.pool

    async def snap(
        self, data: bytes, filename: str | None, site_id: str | None = None, note: str | None = None
    ) -> SnapReport:
        """Run the AI-snap detectors over an uploaded photo and store the report; ImageError if unreadable."""
        pool = self._need_pool()
        rid = new_report_id()
        specs = self.detector_specs(self.settings.snap_detectors, "vision.snap_detectors")
        img = image_path(self.settings.report_dir, rid)
        result = await asyncio.get_running_loop().run_in_executor(pool, snap_photo, data, specs, img)
        report = SnapReport(
            id=rid,
            created_ts=now_ms(),
            filename=filename,
            site_id=site_id,
            note=note,
            hazards=hazards_of(result.boxes, bool(result.labels & {"helmet", "head"})),
            findings=[SnapFinding(label=b.label, score=b.score, box=b.as_tuple()) for b in result.boxes],
            detectors=[name for name, _ in specs],
            errors=result.errors,
            image_url=f"/api/v1/vision/snap/{rid}/image",
        )
        path = report_path(self.settings.report_dir, rid)
        await asyncio.to_thread(path.write_text, report.model_dump_json(indent=1), "utf-8")
        log.info("AI snap %s: %s", rid, [h.value for h in report.hazards] or "no hazard found")
        return report

    def snap_report(self, report_id: str) -> SnapReport | None:
        """A stored AI-snap report, or None."""
        path = report_path(self.settings.report_dir, report_id)
        if not _REPORT_ID.match(report_id) or not path.is_file():
            return None
        return SnapReport.model_validate_json(path.read_bytes())

    async def change(self, before: bytes, after: bytes, bounds: GeoBounds) -> ChangeResult:
        """Changed regions between two aerial photos as map polygons; ImageError if they do not align."""
        pool = self._need_pool()
        return await asyncio.get_running_loop().run_in_executor(pool, detect_changes, before, after, bounds)

    async def _prune_loop(self) -> None:
        while True:
            await asyncio.to_thread(self.prune_snapshots)
            await asyncio.sleep(60)

    def prune_snapshots(self) -> int:
        """Delete the oldest snapshots beyond `snapshot_keep`; how many went."""
        files = sorted(self.settings.snapshot_dir.glob("*.jpg"), key=lambda p: p.stat().st_mtime)
        extra = files[: max(0, len(files) - self.settings.snapshot_keep)]
        for f in extra:
            f.unlink(missing_ok=True)
        return len(extra)


def _dist(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Distance in metres, equirectangular (fine within a site)."""
    dx = (a[1] - b[1]) * 111_320 * math.cos(math.radians(a[0]))
    dy = (a[0] - b[0]) * 111_320
    return math.hypot(dx, dy)


_current: VisionService | None = None


async def run_vision(
    settings: VisionSettings, twin: Twin, topics: Topics, mqtt: MqttSettings, stop: asyncio.Event
) -> None:
    """Entry point for the runtime: build a VisionService and run it until `stop` is set."""
    global _current  # noqa: PLW0603 - the module-level listener below forwards to the running service
    service = VisionService(settings, twin, topics, mqtt)
    _current = service
    try:
        await service.run(stop)
    finally:
        _current = None


def on_pipeline_result(result: PipelineResult) -> None:
    """Ingest listener forwarding access events to the service `run_vision` runs (if any)."""
    if _current is not None:
        _current.on_pipeline_result(result)
