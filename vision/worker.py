"""What runs in the worker processes: detectors over a frame, snapshot drawing, AI-snap photos.

Detectors are built once per process and kept, keyed by name and config; every function here is a
top-level function of picklable arguments, so a ProcessPoolExecutor can run it.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
from numpy.typing import NDArray
from pydantic import TypeAdapter

from vision.boxes import Box
from vision.detectors import Detector, FrameContext, build_detector
from vision.detectors.base import Frame, u8
from vision.detectors.heuristics import small_grey
from vision.errors import DetectorError, ImageError
from vision.settings import DetectorConfig

log = logging.getLogger(__name__)

_CONFIG: TypeAdapter[DetectorConfig] = TypeAdapter(DetectorConfig)
_BUILT: dict[tuple[str, str], Detector] = {}
_COLOURS = {"person": (60, 200, 60), "helmet": (0, 200, 255), "head": (0, 0, 255), "fire": (0, 80, 255)}

DetectorSpec = tuple[str, str]  # (name, config as JSON): picklable and hashable


@dataclass(slots=True)
class FrameResult:
    """A frame's detections and what the next frame of the camera needs."""

    boxes: list[Box]
    small: NDArray[np.uint8]
    labels: frozenset[str]  # labels the camera's detectors can report (helmet-aware or not)
    elapsed_ms: float
    errors: list[str] = field(default_factory=list)


def init_worker() -> None:
    """Pool initializer: one OpenCV thread per process, the pool is the parallelism."""
    cv2.setNumThreads(1)


def _detector(spec: DetectorSpec) -> Detector:
    det = _BUILT.get(spec)
    if det is None:
        det = _BUILT[spec] = build_detector(spec[0], _CONFIG.validate_json(spec[1]))
    return det


def run_detectors(
    frame: Frame, specs: tuple[DetectorSpec, ...], previous: NDArray[np.uint8] | None
) -> FrameResult:
    """Every detector of a camera over one frame, in order (later ones see earlier boxes)."""
    start = time.perf_counter()
    ctx = FrameContext(previous=previous)
    labels: set[str] = set()
    errors: list[str] = []
    for spec in specs:
        try:
            det = _detector(spec)
        except DetectorError as err:
            errors.append(str(err))
            continue
        labels |= det.labels
        ctx.boxes += det.detect(frame, ctx)
    return FrameResult(
        ctx.boxes, small_grey(frame), frozenset(labels), (time.perf_counter() - start) * 1000, errors
    )


def draw(frame: Frame, boxes: list[Box], focus: Box | None = None, caption: str | None = None) -> Frame:
    """A copy of the frame with the boxes drawn (the event's box thick and red, with its caption)."""
    img = frame.copy()
    h, w = img.shape[:2]
    for b in boxes:
        p1, p2 = (int(b.x1 * w), int(b.y1 * h)), (int(b.x2 * w), int(b.y2 * h))
        cv2.rectangle(img, p1, p2, _COLOURS.get(b.label, (255, 200, 0)), 1)
        cv2.putText(
            img,
            f"{b.label} {b.score:.2f}",
            (p1[0], max(p1[1] - 3, 10)),
            cv2.FONT_HERSHEY_SIMPLEX,
            0.35,
            (255, 255, 255),
            1,
        )
    if focus is not None:
        p1, p2 = (int(focus.x1 * w), int(focus.y1 * h)), (int(focus.x2 * w), int(focus.y2 * h))
        cv2.rectangle(img, p1, p2, (0, 0, 255), 3)
        if caption:
            cv2.putText(
                img, caption, (p1[0], max(p1[1] - 6, 14)), cv2.FONT_HERSHEY_SIMPLEX, 0.55, (0, 0, 255), 2
            )
    return u8(img)


def write_jpeg(image: Frame, path: Path, quality: int = 85) -> int:
    """Write atomically (temporary file, then rename); the size in bytes."""
    ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise OSError(f"OpenCV could not encode a JPEG for {path}")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(buf.tobytes())
    tmp.replace(path)
    return len(buf)


def render_snapshot(frame: Frame, boxes: list[Box], focus: Box | None, caption: str, path: Path) -> int:
    """Draw and store an event's snapshot; its size in bytes."""
    return write_jpeg(draw(frame, boxes, focus, caption), path)


def decode_image(data: bytes, field_name: str, max_side: int = 4096) -> Frame:
    """An uploaded photo as a BGR frame; raises ImageError if it is not an image OpenCV reads."""
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if image is None:
        raise ImageError(field_name, "is not an image OpenCV can read (send a JPEG or PNG)")
    h, w = image.shape[:2]
    scale = max_side / max(h, w)
    if scale < 1:
        image = cv2.resize(image, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA)
    return u8(image)


def snap_photo(data: bytes, specs: tuple[DetectorSpec, ...], path: Path, width: int = 1280) -> FrameResult:
    """AI snap: detectors over an uploaded photo, the drawn photo stored at `path`."""
    frame = decode_image(data, "file")
    h, w = frame.shape[:2]
    if w > width:
        frame = u8(cv2.resize(frame, (width, round(h * width / w)), interpolation=cv2.INTER_AREA))
    result = run_detectors(frame, specs, None)
    write_jpeg(draw(frame, result.boxes), path)
    return result
