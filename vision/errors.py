"""The exceptions of video analytics, each carrying the camera, detector or file it concerns.

They cross process boundaries (worker pool), so each can be pickled with its context.
"""

from __future__ import annotations

from typing import Any


class VisionError(Exception):
    """Base of every vision error."""


class SourceError(VisionError):
    """A camera source cannot be opened or read."""

    def __init__(self, camera_id: str, source: str, reason: str) -> None:
        super().__init__(f"camera {camera_id}: source {source} {reason}")
        self.camera_id, self.source, self.reason = camera_id, source, reason

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.camera_id, self.source, self.reason))


class DetectorError(VisionError):
    """A detector cannot be built (missing model, bad metadata, unknown name)."""

    def __init__(self, detector: str, reason: str) -> None:
        super().__init__(f"detector {detector!r}: {reason}")
        self.detector, self.reason = detector, reason

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.detector, self.reason))


class ImageError(VisionError):
    """An uploaded image cannot be decoded or used."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field, self.reason = field, reason

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.field, self.reason))


class VisionUnavailable(VisionError):
    """The vision service is not running (disabled, or not started yet)."""
