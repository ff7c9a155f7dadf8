"""Camera sources through OpenCV: RTSP / HTTP streams, HTTP snapshot URLs, video files, image folders.

Each camera has a reader thread that keeps only the newest frame (drop-oldest), caps the frame rate,
plays files in real time, and reopens a lost stream with backoff.  OpenCV's decoding releases the GIL.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import cv2
import httpx
import numpy as np

from core.contract import now_ms
from twin.model import CameraSpec
from vision.detectors.base import Frame, u8
from vision.errors import SourceError

log = logging.getLogger(__name__)

IMAGE_EXTS = (".jpg", ".jpeg", ".png", ".bmp", ".webp")
_SNAPSHOT_PATH = re.compile(r"(snapshot|snap|still|\.jpe?g$|\.png$)", re.IGNORECASE)


def redact(source: str) -> str:
    """The source with any password in its URL hidden, for logs and the API."""
    parts = urlsplit(source)
    if parts.password is None:
        return source
    host = parts.hostname or ""
    netloc = f"{parts.username}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


def fit_width(frame: Frame, width: int) -> Frame:
    """The frame scaled to `width` px (never up)."""
    h, w = frame.shape[:2]
    if w <= width:
        return frame
    return u8(cv2.resize(frame, (width, round(h * width / w)), interpolation=cv2.INTER_AREA))


class FrameSource:
    """Opens and reads one camera's frames; blocking, used from its reader thread."""

    def __init__(self, camera_id: str, spec: CameraSpec, media_dir: Path) -> None:
        self.camera_id = camera_id
        self.spec = spec
        scheme = urlsplit(spec.source).scheme.lower()
        self.is_url = scheme in ("rtsp", "rtsps", "http", "https", "rtmp", "udp", "tcp")
        self.path = (
            None
            if self.is_url
            else (media_dir / spec.source if not Path(spec.source).is_absolute() else Path(spec.source))
        )
        self.kind = self._kind(scheme)
        self.native_fps = spec.fps
        self._cap: cv2.VideoCapture | None = None
        self._files: list[Path] = []
        self._index = 0
        self._http: httpx.Client | None = None

    def _kind(self, scheme: str) -> str:
        if self.is_url:
            if scheme.startswith("http") and _SNAPSHOT_PATH.search(urlsplit(self.spec.source).path):
                return "snapshot"
            return "stream"
        assert self.path is not None
        return "folder" if self.path.is_dir() else "file"

    @property
    def live(self) -> bool:
        """A live camera (frames come at their own pace) rather than a file played back."""
        return self.kind in ("stream", "snapshot")

    def _fail(self, reason: str) -> SourceError:
        return SourceError(self.camera_id, redact(self.spec.source), reason)

    def open(self) -> None:
        """Open the source; raises SourceError naming the camera and why."""
        self.close()
        if self.kind == "snapshot":
            self._http = httpx.Client(timeout=10.0, follow_redirects=True)
            return
        if self.kind == "folder":
            assert self.path is not None
            self._files = sorted(p for p in self.path.iterdir() if p.suffix.lower() in IMAGE_EXTS)
            if not self._files:
                raise self._fail(f"is a folder with no images ({', '.join(IMAGE_EXTS)})")
            self._index = 0
            return
        if self.path is not None and not self.path.exists():
            raise self._fail("does not exist")
        cap = cv2.VideoCapture(self.spec.source if self.is_url else str(self.path))
        if not cap.isOpened():
            cap.release()
            raise self._fail("cannot be opened by OpenCV (check the URL, credentials, codec)")
        fps = float(cap.get(cv2.CAP_PROP_FPS) or 0.0)
        self.native_fps = fps if 0 < fps <= 240 else 25.0
        self._cap = cap

    def read(self, skip: bool = False) -> Frame | None:
        """The next frame; None at the end of a file or folder, or when a stream is lost.

        `skip`: only advance (files), the frame will not be used.
        """
        if self.kind == "snapshot":
            return self._fetch()
        if self.kind == "folder":
            if self._index >= len(self._files):
                return None
            path = self._files[self._index]
            self._index += 1
            image = cv2.imread(str(path), cv2.IMREAD_COLOR)
            if image is None:
                log.warning("camera %s: cannot read image %s; skipped", self.camera_id, path)
                return np.zeros((2, 2, 3), np.uint8) if not skip else None
            return u8(image)
        if self._cap is None:
            return None
        if skip:
            return np.zeros((1, 1, 3), np.uint8) if self._cap.grab() else None
        ok, frame = self._cap.read()
        return u8(frame) if ok and frame is not None else None

    def _fetch(self) -> Frame | None:
        assert self._http is not None
        try:
            resp = self._http.get(self.spec.source)
            resp.raise_for_status()
        except httpx.HTTPError as err:
            log.warning(
                "camera %s: snapshot from %s failed: %s", self.camera_id, redact(self.spec.source), err
            )
            return None
        image = cv2.imdecode(np.frombuffer(resp.content, np.uint8), cv2.IMREAD_COLOR)
        return None if image is None else u8(image)

    def rewind(self) -> bool:
        """Back to the first frame of a file or folder; False if that is not possible."""
        if self.kind == "folder":
            self._index = 0
            return True
        if self._cap is not None and self.kind == "file":
            return bool(self._cap.set(cv2.CAP_PROP_POS_FRAMES, 0))
        return False

    def close(self) -> None:
        """Release what is open."""
        if self._cap is not None:
            self._cap.release()
            self._cap = None
        if self._http is not None:
            self._http.close()
            self._http = None


@dataclass(slots=True)
class SourceStatus:
    """What the API shows of a camera's source."""

    connected: bool = False
    frames: int = 0
    dropped: int = 0
    reconnects: int = 0
    finished: bool = False
    last_error: str | None = None
    last_frame_ts: int | None = None


FrameSink = Callable[[Frame, int], None]


class FrameReader:
    """A camera's reader thread: frames at most `spec.fps` per second go to `sink(frame, ts_ms)`."""

    def __init__(
        self,
        source: FrameSource,
        sink: FrameSink,
        *,
        reconnect_min_s: float,
        reconnect_max_s: float,
    ) -> None:
        self.source = source
        self.sink = sink
        self.reconnect_min_s = reconnect_min_s
        self.reconnect_max_s = reconnect_max_s
        self.status = SourceStatus()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"vision-src-{source.camera_id}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Ask the thread to stop and wait for it."""
        self._stop.set()
        self._thread.join(timeout)

    def _run(self) -> None:
        delay = self.reconnect_min_s
        cam = self.source.camera_id
        while not self._stop.is_set():
            try:
                self.source.open()
            except SourceError as err:
                self.status.connected, self.status.last_error = False, str(err)
                log.warning("%s; trying again in %.0f s", err, delay)
                self._stop.wait(delay)
                delay = min(delay * 2, self.reconnect_max_s)
                self.status.reconnects += 1
                continue
            self.status.connected, self.status.last_error = True, None
            delay = self.reconnect_min_s
            log.info("camera %s: reading %s (%s)", cam, redact(self.source.spec.source), self.source.kind)
            try:
                done = self._pump()
            except Exception as err:  # a decoder fault must not kill the reader; reopen instead
                log.exception("camera %s: reading failed", cam)
                done, self.status.last_error = False, f"reading failed: {err}"
            finally:
                self.source.close()
                self.status.connected = False
            if self._stop.is_set():
                return
            if done:
                self.status.finished = True
                log.info("camera %s: source ended", cam)
                return
            if not self._stop.is_set():
                self.status.last_error = self.status.last_error or "stream lost"
                log.warning("camera %s: stream lost; reopening in %.0f s", cam, delay)
                self._stop.wait(delay)
                self.status.reconnects += 1

    def _pump(self) -> bool:
        """Read until stopped (True), the end of a non-looping file (True) or a lost stream (False)."""
        src = self.source
        cap_period = 1.0 / src.spec.fps
        frame_period = 1.0 / (src.native_fps if src.kind == "file" else src.spec.fps)
        next_emit = next_frame = time.monotonic()
        while not self._stop.is_set():
            now = time.monotonic()
            use = src.live or now >= next_emit
            frame = src.read(skip=not use)
            if frame is None:
                if src.live:
                    return False
                if not (src.spec.loop and src.rewind()):
                    return True
                continue
            if now >= next_emit and frame.shape[0] > 2:
                self.status.frames += 1
                self.status.last_frame_ts = now_ms()
                self.sink(fit_width(frame, src.spec.width), self.status.last_frame_ts)
                next_emit = max(next_emit + cap_period, now)
            if src.kind == "snapshot":
                self._stop.wait(cap_period)
            elif not src.live:  # play files in real time
                next_frame += frame_period
                self._stop.wait(max(0.0, next_frame - time.monotonic()))
        return True
