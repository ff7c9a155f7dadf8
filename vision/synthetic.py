"""Synthetic construction-site scenes with exact ground truth, for the demo video, tests and benchmarks.

Figures are drawn people (helmet or bare head, walking, climbing or lying) and flickering flames over
a background photo the caller supplies (the demo uses scikit-image's public-domain textures), so
SafeTwin ships no third-party footage and the truth of every frame is known.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from vision.boxes import FIRE, PERSON, Box
from vision.detectors.base import Frame, u8

SKIN = (120, 150, 200)
HAIR = (30, 30, 30)
HELMET_YELLOW = (0, 200, 255)


@dataclass(frozen=True, slots=True)
class Figure:
    """One person in a frame: centre x and foot y in pixels, height, clothes, pose."""

    x: float
    foot_y: float
    height: float
    shirt: tuple[int, int, int] = (150, 90, 40)
    pants: tuple[int, int, int] = (60, 50, 40)
    helmet: tuple[int, int, int] | None = HELMET_YELLOW
    stride: float = 0.0  # -1..1, how far the legs swing
    lying: bool = False


def _patch(fig: Figure) -> tuple[Frame, np.ndarray]:
    """The figure drawn upright on its own canvas: (BGR, alpha mask)."""
    h = int(fig.height)
    w = max(8, int(h * 0.42))
    img = np.zeros((h + 4, w, 3), np.uint8)
    s, cx = h / 180.0, w / 2

    def p(x: float, y: float) -> tuple[int, int]:
        return int(cx + x * s), int(2 + y * s)

    sw = fig.stride
    cv2.line(img, p(-6, 100), p(-10 + sw * 12, 178), fig.pants, max(2, int(11 * s)))
    cv2.line(img, p(6, 100), p(10 - sw * 12, 178), fig.pants, max(2, int(11 * s)))
    torso = np.array([p(-17, 28), p(17, 28), p(14, 104), p(-14, 104)], np.int32)
    cv2.fillPoly(img, [torso], fig.shirt)
    cv2.line(img, p(-16, 32), p(-22 - sw * 6, 95), fig.shirt, max(2, int(8 * s)))
    cv2.line(img, p(16, 32), p(22 + sw * 6, 95), fig.shirt, max(2, int(8 * s)))
    cv2.line(img, p(0, 18), p(0, 30), SKIN, max(2, int(7 * s)))
    r = max(2, int(11 * s))
    cv2.circle(img, p(0, 12), r, SKIN, -1)
    top = fig.helmet if fig.helmet is not None else HAIR
    cv2.ellipse(img, p(0, 7), (int(r * 1.15) if fig.helmet else r, int(r * 0.75)), 0, 180, 360, top, -1)
    if fig.helmet is not None:
        cv2.line(img, p(-15, 8), p(15, 8), top, max(1, int(3 * s)))
    alpha = (img.sum(axis=2) > 0).astype(np.uint8) * 255
    return img, alpha


def place(frame: Frame, fig: Figure) -> Box:
    """Draw the figure into the frame; its ground-truth box (frame fractions)."""
    img, alpha = _patch(fig)
    if fig.lying:
        img, alpha = np.rot90(img).copy(), np.rot90(alpha).copy()
    ph, pw = alpha.shape
    x0, y0 = int(fig.x - pw / 2), int(fig.foot_y - ph)
    fh, fw = frame.shape[:2]
    xa, ya, xb, yb = max(x0, 0), max(y0, 0), min(x0 + pw, fw), min(y0 + ph, fh)
    if xa >= xb or ya >= yb:
        return Box(PERSON, 1.0, 0, 0, 0, 0)
    sub = alpha[ya - y0 : yb - y0, xa - x0 : xb - x0, None] > 0
    region = frame[ya:yb, xa:xb]
    frame[ya:yb, xa:xb] = np.where(sub, img[ya - y0 : yb - y0, xa - x0 : xb - x0], region)
    ys, xs = np.nonzero(alpha)
    return Box(
        PERSON,
        1.0,
        (x0 + xs.min()) / fw,
        (y0 + ys.min()) / fh,
        (x0 + xs.max() + 1) / fw,
        (y0 + ys.max() + 1) / fh,
    ).clipped()


def flame(frame: Frame, x: float, base_y: float, size: float, phase: int) -> Box:
    """A flickering flame (its shape changes with `phase`); its ground-truth box."""
    rng = np.random.default_rng(phase)
    fh, fw = frame.shape[:2]
    x1, y1, x2, y2 = fw, fh, 0, 0
    for i in range(14):
        dx = rng.normal(0, size * 0.18)
        tall = size * (0.5 + 0.5 * rng.random())
        cy = base_y - tall / 2 - i % 3 * size * 0.05
        axes = (max(2, int(size * (0.12 + 0.1 * rng.random()))), max(3, int(tall / 2)))
        colour = (0, int(60 + 150 * rng.random()), 255) if i % 2 else (40, 200, 255)
        cv2.ellipse(frame, (int(x + dx), int(cy)), axes, 0, 0, 360, colour, -1)
        x1, y1 = min(x1, int(x + dx) - axes[0]), min(y1, int(cy) - axes[1])
        x2, y2 = max(x2, int(x + dx) + axes[0]), max(y2, int(cy) + axes[1])
    return Box(FIRE, 1.0, x1 / fw, y1 / fh, x2 / fw, y2 / fh).clipped()


def site_background(ground: Frame, wall: Frame, width: int = 640, height: int = 360) -> Frame:
    """A site backdrop: a wall band over gravel ground, a striped barrier, a ladder on the right."""
    g = cv2.resize(ground, (width, height))
    frame = u8(g.astype(np.float32) * 0.35 + 110)
    band = int(height * 0.22)
    frame[:band] = u8(cv2.resize(wall, (width, band)).astype(np.float32) * 0.8 + 30)
    for i in range(0, int(width * 0.3), 24):  # red-white barrier at the pit edge
        colour = (40, 40, 200) if (i // 24) % 2 else (230, 230, 230)
        cv2.rectangle(frame, (i, int(height * 0.5)), (i + 24, int(height * 0.53)), colour, -1)
    lx = int(width * 0.9)
    for rail in (lx - 18, lx + 18):
        cv2.line(frame, (rail, int(height * 0.02)), (rail, height), (70, 110, 140), 4)
    for y in range(int(height * 0.05), height, 22):
        cv2.line(frame, (lx - 18, y), (lx + 18, y), (70, 110, 140), 3)
    return frame


def walk(t: float, t0: float, t1: float, x0: float, x1: float) -> tuple[float, float]:
    """Position along a walk from x0 (at t0) to x1 (at t1), and the leg swing."""
    k = min(max((t - t0) / (t1 - t0), 0.0), 1.0)
    return x0 + (x1 - x0) * k, math.sin(t * 7.0)
