"""Detector plugins: a config model with a `type` (vision.settings) and the class built from it."""

from __future__ import annotations

from vision.detectors.base import Detector, FrameContext
from vision.settings import (
    DetectorConfig,
    FireSmokeHeuristicConfig,
    HelmetColourConfig,
    HogPersonConfig,
    OnnxYoloConfig,
)

__all__ = ["Detector", "FrameContext", "build_detector"]


def build_detector(name: str, config: DetectorConfig) -> Detector:
    """The detector a config describes; raises DetectorError if it cannot be built."""
    if isinstance(config, HogPersonConfig):
        from vision.detectors.hog import HogPersonDetector

        return HogPersonDetector(name, config)
    if isinstance(config, OnnxYoloConfig):
        from vision.detectors.onnx_yolo import OnnxYoloDetector

        return OnnxYoloDetector(name, config)
    if isinstance(config, FireSmokeHeuristicConfig):
        from vision.detectors.heuristics import FireSmokeHeuristic

        return FireSmokeHeuristic(name, config)
    if isinstance(config, HelmetColourConfig):
        from vision.detectors.heuristics import HelmetColourHeuristic

        return HelmetColourHeuristic(name, config)
    raise AssertionError(f"unhandled detector config {type(config).__name__}")
