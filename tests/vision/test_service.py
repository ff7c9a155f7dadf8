"""The vision service end to end: a video file camera to MQTT detection events and stored snapshots,
accepted by ingest like an AI camera's; gate check-ins against the roster raise unregistered-person alerts.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import aiomqtt
import pytest

from core.contract import (
    AccessDirection,
    AccessEvent,
    Detection,
    DetectionEventType,
    DetectionLabel,
    Topics,
    now_ms,
)
from core.settings import MqttSettings
from ingest.pipeline import InboundMessage, IngestPipeline, PipelineResult
from ingest.registry import DeadLetterLog, UnregisteredDevices
from tests.fixtures.mosquitto import MosquittoBroker
from tests.helpers import eventually, unique_prefix
from tests.vision.support import H, W, scene, write_video
from twin.loader import parse_twin
from twin.state import LiveState
from twin.twin import Twin
from vision.roster import WorkerIn
from vision.service import VisionService
from vision.settings import AnalyticsSettings, VisionSettings
from vision.synthetic import Figure

pytestmark = pytest.mark.mosquitto

TWIN = """\
version: 1
name: 测试工地
sites:
  - id: gs
    name: 观澜工地
    kind: construction_site
    location: {lat: 22.7300, lon: 114.0600}
    spaces:
      - id: gs-gate
        name: 大门
        kind: construction_site
        location: {lat: 22.7301, lon: 114.0601}
        devices:
          - id: gs-cam-01
            kind: camera
            camera:
              source: gate.mp4
              fps: 5
              zones:
                - {name: 基坑边, kind: restricted, polygon: [[0, 0], [0.5, 0], [0.5, 1], [0, 1]]}
          - {id: gs-reader-01, kind: access_reader}
      - id: gs-yard
        name: 场地
        kind: construction_site
        location: {lat: 22.7310, lon: 114.0610}
        devices:
          - {id: gs-cam-02, kind: camera}
"""


@dataclass
class Heard:
    """Detection messages received from the broker, by camera."""

    messages: list[tuple[str, Detection, bytes]] = field(default_factory=list)

    def of(self, label: DetectionLabel, kind: DetectionEventType) -> list[tuple[str, Detection, bytes]]:
        return [m for m in self.messages if m[1].label == label and m[1].type == kind]


@pytest.fixture
async def running(
    mosquitto: MosquittoBroker, tmp_path: Path
) -> AsyncIterator[tuple[VisionService, Heard, Topics]]:
    frame, _ = scene([Figure(0.25 * W, 0.95 * H, 150)])  # one worker standing in the restricted half
    write_video(tmp_path / "gate.mp4", [frame] * 20, fps=10)
    twin = Twin(parse_twin(TWIN, "test.yaml"))
    topics = Topics(unique_prefix())
    settings = VisionSettings(
        data_dir=tmp_path / "vision",
        media_dir=tmp_path,
        workers=1,
        analytics=AnalyticsSettings(min_event_s=0.3, end_after_s=1.0, headcount_grace_s=0.5),
    )
    service = VisionService(settings, twin, topics, MqttSettings(url=mosquitto.url))
    heard = Heard()
    ready = asyncio.Event()

    async def listen() -> None:
        async with aiomqtt.Client(mosquitto.host, mosquitto.port) as client:
            await client.subscribe(f"{topics.root}/detection/+", qos=1)
            ready.set()
            async for msg in client.messages:
                payload = msg.payload if isinstance(msg.payload, bytes) else b""
                heard.messages.append((msg.topic.value, Detection.model_validate_json(payload), payload))

    stop = asyncio.Event()
    listener = asyncio.create_task(listen())
    await ready.wait()
    task = asyncio.create_task(service.run(stop))
    try:
        yield service, heard, topics
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)
        await asyncio.sleep(0.3)
        listener.cancel()
        await asyncio.gather(listener, return_exceptions=True)


async def test_video_camera_to_mqtt_event_snapshot_and_ingest(
    running: tuple[VisionService, Heard, Topics],
) -> None:
    service, heard, topics = running
    await eventually(
        lambda: bool(heard.of(DetectionLabel.INTRUSION, DetectionEventType.NEW)), 30, "an intrusion"
    )
    topic, det, payload = heard.of(DetectionLabel.INTRUSION, DetectionEventType.NEW)[0]
    assert topic == topics.detection("gs-cam-01") and det.zones == ["基坑边"]
    assert det.box is not None and det.box[2] < 0.5 and det.score > 0
    # the snapshot is stored and named by the event's link
    assert det.snapshot_url is not None
    snap = service.settings.snapshot_dir / det.snapshot_url.rsplit("/", 1)[1]
    await eventually(snap.is_file, 5, "the snapshot file")
    assert snap.read_bytes()[:3] == b"\xff\xd8\xff"  # a JPEG
    # ingest takes it exactly as it takes an AI camera's event
    live = LiveState(service.twin, offline_after_ms=120_000, clock_skew_warn_ms=300_000)
    pipeline = IngestPipeline(
        service.twin, live, topics, max_payload_bytes=256 * 1024, dead_letters=DeadLetterLog(),
        unregistered=UnregisteredDevices(),
    )  # fmt: skip
    result = pipeline.process([InboundMessage(topic, payload, now_ms())])
    assert result.dead_letters == [] and result.detections == [("gs-cam-01", det)]
    # the same incident goes on as updates of one event id, not one event per frame
    await asyncio.sleep(1.5)
    assert len(heard.of(DetectionLabel.INTRUSION, DetectionEventType.NEW)) == 1
    assert service.cameras["gs-cam-01"].stats.analysed >= 5


async def test_roster_unregistered_check_in_and_head_count(
    running: tuple[VisionService, Heard, Topics],
) -> None:
    service, heard, _ = running
    await eventually(
        lambda: service.cameras["gs-cam-01"].last_frame is not None, 30, "a first analysed frame"
    )
    service.roster.register("gs", WorkerIn(person_id="W-1", name="李四"))
    # the camera sees one person, nobody is checked in: after the grace time, an unregistered person
    unreg = DetectionLabel.UNREGISTERED_PERSON
    await eventually(lambda: bool(heard.of(unreg, DetectionEventType.NEW)), 15, "a head-count alert")
    [(topic, counted, _)] = heard.of(unreg, DetectionEventType.NEW)
    assert topic.endswith("/gs-cam-01") and counted.snapshot_url is not None
    # W-1 checks in at the gate: as many checked in as seen, the alert ends
    checkin = AccessEvent(ts=now_ms(), person_id="W-1", direction=AccessDirection.IN, method="qr")
    service.on_pipeline_result(PipelineResult(access=[("gs-reader-01", checkin)]))
    await eventually(lambda: bool(heard.of(unreg, DetectionEventType.END)), 10, "the head-count alert to end")
    assert service.roster.checked_in("gs") == 1
    # a badge nobody registered: an alert at once on the gate's camera (same space), with a snapshot
    stranger = AccessEvent(ts=now_ms(), person_id="X-9", direction=AccessDirection.IN)
    start = time.monotonic()
    service.on_pipeline_result(PipelineResult(access=[("gs-reader-01", stranger)]))
    await eventually(lambda: len(heard.of(unreg, DetectionEventType.NEW)) == 2, 10, "the gate alert")
    assert time.monotonic() - start < 5
    _, gate, _ = heard.of(unreg, DetectionEventType.NEW)[1]
    assert gate.snapshot_url is not None
    assert (service.settings.snapshot_dir / gate.snapshot_url.rsplit("/", 1)[1]).is_file()
    assert service.gate_camera(service.twin.devices["gs-reader-01"]) == "gs-cam-01"
