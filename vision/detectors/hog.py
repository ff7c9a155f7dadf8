"""The built-in person detector: OpenCV's HOG + linear SVM people model (opencv-python 4.x)."""

from __future__ import annotations

import cv2
import numpy as np

from vision.boxes import PERSON, Box, nms
from vision.detectors.base import Frame, FrameContext, margin_score, u8
from vision.settings import HogPersonConfig

# The HOG window holds a person with a margin; trimming it makes head regions and zones honest.
_TRIM_X, _TRIM_Y = 0.15, 0.05


class HogPersonDetector:
    """Upright people (and, with `lying`, people lying down) from HOG features; no weights needed."""

    def __init__(self, name: str, config: HogPersonConfig) -> None:
        if not hasattr(cv2, "HOGDescriptor_getDefaultPeopleDetector"):
            from vision.errors import DetectorError

            raise DetectorError(
                name, "this OpenCV has no HOG people detector; install opencv-python-headless<5"
            )
        self.name = name
        self.config = config
        self.labels = frozenset({PERSON})
        self._hog = cv2.HOGDescriptor()
        self._hog.setSVMDetector(cv2.HOGDescriptor_getDefaultPeopleDetector())

    def _upright(self, frame: Frame) -> list[tuple[float, float, float, float, float]]:
        """(x1, y1, x2, y2, weight) in pixels of upright people."""
        s = self.config.win_stride
        rects, weights = self._hog.detectMultiScale(
            frame,
            hitThreshold=self.config.hit_threshold,
            winStride=(s, s),
            padding=(8, 8),
            scale=self.config.scale,
        )
        out = []
        for (x, y, w, h), wt in zip(np.asarray(rects).reshape(-1, 4), np.ravel(weights), strict=True):
            if wt >= self.config.min_score:
                dx, dy = w * _TRIM_X, h * _TRIM_Y
                out.append((x + dx, y + dy, x + w - dx, y + h - dy, float(wt)))
        return out

    def detect(self, frame: Frame, ctx: FrameContext) -> list[Box]:
        """People in the frame; lying ones come back as wide person boxes."""
        h, w = frame.shape[:2]
        found = self._upright(frame)
        if self.config.lying:
            turned = u8(cv2.rotate(frame, cv2.ROTATE_90_CLOCKWISE))
            for x1, y1, x2, y2, wt in self._upright(turned):
                # a point (x', y') of the turned frame is (y', h - x') of the frame
                found.append((y1, h - x2, y2, h - x1, wt))
        if not found:
            return []
        arr = np.array(found, dtype=np.float32)
        keep = nms(arr[:, :4], arr[:, 4], 0.4)
        return [
            Box(
                PERSON,
                margin_score(float(arr[i, 4])),
                arr[i, 0] / w,
                arr[i, 1] / h,
                arr[i, 2] / w,
                arr[i, 3] / h,
            ).clipped()
            for i in keep
        ]
