"""Boxes and the geometry analytics need: IoU, non-maximum suppression, points in polygons."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

# What detectors report; analytics turn these into the contract's labels.
PERSON, HELMET, HEAD, FIRE, SMOKE, VEHICLE, LYING = (
    "person",
    "helmet",
    "head",
    "fire",
    "smoke",
    "vehicle",
    "lying",
)
BOX_LABELS = frozenset({PERSON, HELMET, HEAD, FIRE, SMOKE, VEHICLE, LYING})


@dataclass(frozen=True, slots=True)
class Box:
    """One detected object: a detector label, a confidence and x1, y1, x2, y2 as frame fractions."""

    label: str
    score: float
    x1: float
    y1: float
    x2: float
    y2: float

    @property
    def width(self) -> float:
        return self.x2 - self.x1

    @property
    def height(self) -> float:
        return self.y2 - self.y1

    @property
    def centre(self) -> tuple[float, float]:
        return (self.x1 + self.x2) / 2, (self.y1 + self.y2) / 2

    @property
    def foot(self) -> tuple[float, float]:
        """Bottom centre: where a person stands, the point zones are tested with."""
        return (self.x1 + self.x2) / 2, self.y2

    def as_tuple(self) -> tuple[float, float, float, float]:
        return (self.x1, self.y1, self.x2, self.y2)

    def clipped(self) -> Box:
        """The box cut to the frame, coordinates rounded to 4 decimals."""
        c = [round(min(max(float(v), 0.0), 1.0), 4) for v in (self.x1, self.y1, self.x2, self.y2)]
        return Box(self.label, round(float(self.score), 4), c[0], c[1], c[2], c[3])


def iou(a: Box, b: Box) -> float:
    """Intersection over union of two boxes."""
    ix = max(0.0, min(a.x2, b.x2) - max(a.x1, b.x1))
    iy = max(0.0, min(a.y2, b.y2) - max(a.y1, b.y1))
    inter = ix * iy
    union = a.width * a.height + b.width * b.height - inter
    return inter / union if union > 0 else 0.0


def nms(boxes: NDArray[np.float32], scores: NDArray[np.float32], iou_threshold: float) -> list[int]:
    """Greedy non-maximum suppression; indices of the kept boxes (x1, y1, x2, y2 rows), best first."""
    if len(boxes) == 0:
        return []
    x1, y1, x2, y2 = boxes[:, 0], boxes[:, 1], boxes[:, 2], boxes[:, 3]
    areas = np.maximum(x2 - x1, 0) * np.maximum(y2 - y1, 0)
    order = np.argsort(-scores, kind="stable")
    keep: list[int] = []
    while order.size:
        i = int(order[0])
        keep.append(i)
        rest = order[1:]
        w = np.maximum(0.0, np.minimum(x2[i], x2[rest]) - np.maximum(x1[i], x1[rest]))
        h = np.maximum(0.0, np.minimum(y2[i], y2[rest]) - np.maximum(y1[i], y1[rest]))
        inter = w * h
        union = areas[i] + areas[rest] - inter
        overlap = np.where(union > 0, inter / np.maximum(union, 1e-12), 0.0)
        order = rest[overlap <= iou_threshold]
    return keep


def batched_nms(
    boxes: NDArray[np.float32], scores: NDArray[np.float32], classes: NDArray[np.int64], iou_threshold: float
) -> list[int]:
    """NMS per class: boxes of different classes never suppress each other."""
    if len(boxes) == 0:
        return []
    span = float(boxes.max()) + 1.0
    shifted = boxes + (classes.astype(np.float32) * span)[:, None]
    return nms(shifted, scores, iou_threshold)


def point_in_polygon(x: float, y: float, polygon: list[tuple[float, float]]) -> bool:
    """Ray casting: is (x, y) inside the polygon (points on the edge count as inside)."""
    inside = False
    n = len(polygon)
    for i in range(n):
        ax, ay = polygon[i]
        bx, by = polygon[(i + 1) % n]
        if _on_segment(x, y, ax, ay, bx, by):
            return True
        if (ay > y) != (by > y):
            cross = ax + (y - ay) * (bx - ax) / (by - ay)
            if x < cross:
                inside = not inside
    return inside


def _on_segment(x: float, y: float, ax: float, ay: float, bx: float, by: float) -> bool:
    cross = (bx - ax) * (y - ay) - (by - ay) * (x - ax)
    if abs(cross) > 1e-9:
        return False
    return min(ax, bx) - 1e-9 <= x <= max(ax, bx) + 1e-9 and min(ay, by) - 1e-9 <= y <= max(ay, by) + 1e-9
