"""What every detector plugin is: a config model with a `type` (vision.settings) and a class."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
from numpy.typing import NDArray

from vision.boxes import Box

Frame = NDArray[np.uint8]  # BGR, height x width x 3


@dataclass(slots=True)
class FrameContext:
    """What a detector may use beside the frame."""

    previous: NDArray[np.uint8] | None = None  # the camera's previous analysed frame, small and grey
    boxes: list[Box] = field(default_factory=list)  # found on this frame by the detectors run before


class Detector(Protocol):
    """Finds boxes in one BGR frame; runs in a worker process, never on the event loop."""

    name: str
    labels: frozenset[str]  # what it can report: tells analytics whether a camera sees helmets

    def detect(self, frame: Frame, ctx: FrameContext) -> list[Box]:
        """Boxes found in `frame`, coordinates as frame fractions."""
        ...


def margin_score(weight: float) -> float:
    """Map an unbounded SVM margin to 0..1, monotonic (1 - e^-w)."""
    return float(max(0.0, 1.0 - np.exp(-max(weight, 0.0))))


def u8(image: object) -> NDArray[np.uint8]:
    """An OpenCV result as a uint8 array (OpenCV's stubs type results loosely)."""
    return np.asarray(image, dtype=np.uint8)
