"""HEURISTIC detectors for sites without a model: fire and smoke from colour and flicker, hard hats
from colour.  They are cheap and explainable, not accurate: scores are capped at 0.6 so rules can tell.
"""

from __future__ import annotations

import cv2
import numpy as np
from numpy.typing import NDArray

from vision.boxes import FIRE, HELMET, PERSON, SMOKE, Box
from vision.detectors.base import Frame, FrameContext, u8
from vision.settings import FireSmokeHeuristicConfig, HelmetColourConfig

HEURISTIC_MAX_SCORE = 0.6
SMALL_WIDTH = 320  # the fire/smoke heuristic works on a frame this wide
_HEAD_TOP = 0.16  # the head region: the top of a person box, its middle part
_HEAD_SIDE = 0.2

Mask = NDArray[np.uint8]


def small_grey(frame: Frame) -> NDArray[np.uint8]:
    """The frame scaled to SMALL_WIDTH and made grey: what the next frame's flicker is measured against."""
    h, w = frame.shape[:2]
    small = cv2.resize(frame, (SMALL_WIDTH, max(1, round(h * SMALL_WIDTH / w))), interpolation=cv2.INTER_AREA)
    return np.asarray(cv2.GaussianBlur(cv2.cvtColor(small, cv2.COLOR_BGR2GRAY), (5, 5), 0), dtype=np.uint8)


def _fire_mask(small: Frame) -> Mask:
    """Flame colours (after Chen et al. 2004): bright, red over green over blue, saturated enough."""
    b, g, r = (small[:, :, i].astype(np.int16) for i in range(3))
    sat = cv2.cvtColor(small, cv2.COLOR_BGR2HSV)[:, :, 1].astype(np.int16)
    mask = (r > 170) & (r >= g) & (g > b) & (r - b > 60) & (sat >= (255 - r) * 60 // 170)
    return mask.astype(np.uint8) * 255


def _hot_core(small: Frame, region: NDArray[np.bool_]) -> bool:
    """A flame's core is near white: at least a tenth of the region very bright and yellowish."""
    b, g, r = (small[:, :, i][region].astype(np.int16) for i in range(3))
    return bool(np.count_nonzero((r > 240) & (g > 200) & (b > 120)) >= 0.1 * r.size)


def _smoke_mask(small: Frame) -> Mask:
    """Smoke colours: grey (little saturation), neither dark nor blown out."""
    hsv = cv2.cvtColor(small, cv2.COLOR_BGR2HSV)
    mask = (hsv[:, :, 1] < 45) & (hsv[:, :, 2] > 90) & (hsv[:, :, 2] < 235)
    return mask.astype(np.uint8) * 255


def _steadied(previous: NDArray[np.uint8], grey: NDArray[np.uint8]) -> NDArray[np.uint8]:
    """The previous frame shifted onto this one (phase correlation), so camera shake is not flicker."""
    (dx, dy), _ = cv2.phaseCorrelate(previous.astype(np.float32), grey.astype(np.float32))
    if abs(dx) < 0.25 and abs(dy) < 0.25:
        return previous
    shift = np.array([[1, 0, dx], [0, 1, dy]], np.float32)
    h, w = grey.shape
    return u8(cv2.warpAffine(previous, shift, (w, h), borderMode=cv2.BORDER_REPLICATE))


def _inside_people(x: float, y: float, boxes: list[Box]) -> bool:
    return any(b.label == PERSON and b.x1 <= x <= b.x2 and b.y1 <= y <= b.y2 for b in boxes)


class FireSmokeHeuristic:
    """Regions of flame or smoke colour that flicker between frames (HEURISTIC)."""

    def __init__(self, name: str, config: FireSmokeHeuristicConfig) -> None:
        self.name = name
        self.config = config
        self.labels = frozenset({FIRE, SMOKE} if config.smoke else {FIRE})

    def detect(self, frame: Frame, ctx: FrameContext) -> list[Box]:
        """Fire and smoke regions; without a previous frame only large flame-coloured regions count."""
        h, w = frame.shape[:2]
        small = u8(
            cv2.resize(frame, (SMALL_WIDTH, max(1, round(h * SMALL_WIDTH / w))), interpolation=cv2.INTER_AREA)
        )
        grey = small_grey(frame)
        moving: Mask | None = None
        if ctx.previous is not None and ctx.previous.shape == grey.shape:
            previous = _steadied(ctx.previous, grey)
            moving = (cv2.absdiff(grey, previous) > self.config.motion_threshold).astype(np.uint8) * 255
        out = self._regions(_fire_mask(small), moving, FIRE, self.config.min_area, ctx.boxes, small)
        if self.config.smoke and moving is not None:
            out += self._regions(
                _smoke_mask(small), moving, SMOKE, self.config.min_area * 4, ctx.boxes, small
            )
        return out

    def _regions(
        self, mask: Mask, moving: Mask | None, label: str, min_area: float, people: list[Box], small: Frame
    ) -> list[Box]:
        mask = u8(cv2.morphologyEx(mask, cv2.MORPH_CLOSE, np.ones((5, 5), np.uint8)))
        n, cc, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
        sh, sw = mask.shape
        out: list[Box] = []
        for i in range(1, n):
            x, y, bw, bh, area = (int(v) for v in stats[i])
            if area < min_area * sw * sh:
                continue
            box = Box(label, 0.0, x / sw, y / sh, (x + bw) / sw, (y + bh) / sh)
            if _inside_people(*box.centre, people):
                continue  # clothes, not flames
            if moving is None:  # one photo: only a large region with a white-hot core passes
                if label != FIRE or area < 4 * min_area * sw * sh or not _hot_core(small, cc == i):
                    continue
                score = 0.3
            else:
                flicker = float(np.count_nonzero(moving[cc == i])) / area
                if flicker < self.config.min_moving:
                    continue
                score = min(HEURISTIC_MAX_SCORE, 0.3 + flicker)
            out.append(Box(label, round(score, 3), box.x1, box.y1, box.x2, box.y2).clipped())
        return out


class HelmetColourHeuristic:
    """A hard hat where the head region of a person box is in a helmet colour (HEURISTIC)."""

    def __init__(self, name: str, config: HelmetColourConfig) -> None:
        self.name = name
        self.config = config
        self.labels = frozenset({HELMET})

    def detect(self, frame: Frame, ctx: FrameContext) -> list[Box]:
        """One helmet box per person whose head region is mostly yellow, orange, red or blue."""
        h, w = frame.shape[:2]
        out: list[Box] = []
        for p in ctx.boxes:
            if p.label != PERSON or p.height <= 0 or p.width / p.height > 1.0:
                continue  # lying people: no head region to check
            head = Box(
                HELMET,
                0.0,
                p.x1 + p.width * _HEAD_SIDE,
                p.y1,
                p.x2 - p.width * _HEAD_SIDE,
                p.y1 + p.height * _HEAD_TOP,
            )
            x1, y1, x2, y2 = int(head.x1 * w), int(head.y1 * h), int(head.x2 * w) + 1, int(head.y2 * h) + 1
            region = frame[max(y1, 0) : y2, max(x1, 0) : x2]
            if region.size == 0:
                continue
            frac = self._helmet_fraction(region)
            if frac >= self.config.min_fraction:
                score = min(HEURISTIC_MAX_SCORE, 0.3 + frac)
                out.append(Box(HELMET, round(score, 3), head.x1, head.y1, head.x2, head.y2).clipped())
        return out

    def _helmet_fraction(self, region: Frame) -> float:
        hsv = cv2.cvtColor(region, cv2.COLOR_BGR2HSV)
        hue, sat, val = hsv[:, :, 0], hsv[:, :, 1], hsv[:, :, 2]
        vivid = (sat > 120) & (val > 110)
        colour = vivid & (((hue >= 8) & (hue <= 35)) | (hue < 6) | (hue > 172) | ((hue >= 95) & (hue <= 125)))
        if self.config.white:
            colour |= (sat < 30) & (val > 210)
        return float(np.count_nonzero(colour)) / colour.size
