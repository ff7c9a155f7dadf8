"""Camera sources on real files, the roster's SQLite file, drone change detection on a real photo."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from core.contract import AccessDirection
from tests.vision.support import photo, write_video
from twin.model import CameraSpec
from vision.change import GeoBounds, detect_changes
from vision.errors import ImageError, SourceError
from vision.roster import Roster, WorkerIn
from vision.sources import FrameReader, FrameSource, redact


def _collect(source: FrameSource, seconds: float) -> tuple[list[tuple[np.ndarray, int]], FrameReader]:
    got: list[tuple[np.ndarray, int]] = []
    lock = threading.Lock()

    def sink(frame: np.ndarray, ts: int) -> None:
        with lock:
            got.append((frame, ts))

    reader = FrameReader(source, sink, reconnect_min_s=0.05, reconnect_max_s=0.1)
    reader.start()
    time.sleep(seconds)
    reader.stop()
    return got, reader


def test_video_file_plays_in_real_time_capped_scaled_and_looped(tmp_path: Path) -> None:
    frames = [np.full((120, 320, 3), i * 8, np.uint8) for i in range(20)]
    path = write_video(tmp_path / "v.mp4", frames, fps=20)  # 1 s of video
    spec = CameraSpec(source="v.mp4", fps=5, width=160)
    got, reader = _collect(FrameSource("cam", spec, tmp_path), 1.6)
    assert 6 <= len(got) <= 10, len(got)  # 5 frames/s, not the file's 20, looping past its end
    assert got[0][0].shape == (60, 160, 3)
    assert reader.status.frames == len(got) and not reader.status.finished
    assert path.exists()


def test_image_folder_without_loop_finishes(tmp_path: Path) -> None:
    for i in range(3):
        cv2.imwrite(str(tmp_path / f"{i:03d}.jpg"), photo("coffee"))
    (tmp_path / "notes.txt").write_text("not an image")
    got, reader = _collect(
        FrameSource("cam", CameraSpec(source=str(tmp_path), fps=20, loop=False), tmp_path), 0.6
    )
    assert len(got) == 3 and reader.status.finished


def test_missing_source_is_retried_and_reported(tmp_path: Path) -> None:
    src = FrameSource("cam-9", CameraSpec(source="nope.mp4"), tmp_path)
    with pytest.raises(SourceError, match=r"cam-9.*does not exist"):
        src.open()
    got, reader = _collect(src, 0.4)
    assert (
        got == [] and reader.status.reconnects >= 2 and "does not exist" in (reader.status.last_error or "")
    )


def test_passwords_are_hidden_from_logs() -> None:
    assert redact("rtsp://admin:s3cret@10.0.0.7:554/ch1") == "rtsp://admin:***@10.0.0.7:554/ch1"
    assert redact("data/vision/demo.mp4") == "data/vision/demo.mp4"


def test_roster_persists_and_tracks_presence(tmp_path: Path) -> None:
    roster = Roster(tmp_path / "roster.sqlite")
    assert not roster.enforced("site-a")
    roster.register("site-a", WorkerIn(person_id="W-1", name="张三", role="钢筋工", safety_trained=True))
    assert roster.record_access("site-a", "W-1", AccessDirection.IN, 1000)
    assert not roster.record_access("site-a", "W-404", AccessDirection.IN, 1000)
    assert not roster.record_access("site-b", "W-1", AccessDirection.IN, 1000)  # registered elsewhere only
    roster.close()
    again = Roster(tmp_path / "roster.sqlite")
    [w] = again.workers("site-a")
    assert (w.name, w.role, w.safety_trained, w.checked_in) == ("张三", "钢筋工", True, True)
    assert again.checked_in("site-a") == 1 and again.enforced("site-a")
    again.record_access("site-a", "W-1", AccessDirection.OUT, 2000)
    assert again.checked_in("site-a") == 0
    assert again.remove("site-a", "W-1") and not again.remove("site-a", "W-1")
    again.close()


def _jpeg(img: np.ndarray) -> bytes:
    return cv2.imencode(".jpg", img)[1].tobytes()


def test_change_detector_finds_the_new_structure_on_a_shifted_copy() -> None:
    before = photo("astronaut")
    h, w = before.shape[:2]
    move = cv2.getRotationMatrix2D((w / 2, h / 2), 3.0, 1.0)
    move[:, 2] += (12, -8)
    after = cv2.warpAffine(before, move, (w, h), borderMode=cv2.BORDER_REFLECT)
    roof = np.array([[300, 200], [370, 200], [370, 250], [300, 250]], np.float32)  # in 'before' pixels
    cv2.fillPoly(after, [cv2.transform(roof[None], move)[0].astype(np.int32)], (40, 40, 200))
    after = np.clip(after.astype(np.int16) + 10, 0, 255).astype(np.uint8)  # another flight, brighter
    bounds = GeoBounds(west=114.05, south=22.72, east=114.052, north=22.722)
    result = detect_changes(_jpeg(before), _jpeg(after), bounds)
    assert result.inliers >= 100
    [region] = result.regions
    xs, ys = [p[0] for p in region.pixels], [p[1] for p in region.pixels]
    assert (
        abs(min(xs) - 300) <= 6
        and abs(max(xs) - 370) <= 6
        and abs(min(ys) - 200) <= 6
        and abs(max(ys) - 250) <= 6
    )
    lons, lats = [p[0] for p in region.polygon], [p[1] for p in region.polygon]
    assert min(lons) > 114.05 + 300 / 512 * 0.002 - 3e-5 and max(lats) < 22.722 - 200 / 512 * 0.002 + 3e-5
    assert 300 < region.area_m2 < 1000  # 70 x 50 px of a 512 px, ~205 m wide photo


def test_change_detector_refuses_unrelated_photos() -> None:
    bounds = GeoBounds(west=0, south=0, east=0.01, north=0.01)
    with pytest.raises(ImageError, match=r"same area|aligned"):
        detect_changes(_jpeg(photo("astronaut")), _jpeg(photo("coffee")), bounds)
    with pytest.raises(ImageError, match="before"):
        detect_changes(b"not an image", _jpeg(photo("coffee")), bounds)
