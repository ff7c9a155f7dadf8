"""AI snap: a person uploads a photo and gets the hazards the configured detectors see, kept as a report."""

from __future__ import annotations

import secrets
from pathlib import Path

from pydantic import BaseModel, Field

from core.contract import DetectionLabel, now_ms
from vision.analytics import has_helmet
from vision.boxes import FIRE, HEAD, HELMET, PERSON, SMOKE, Box

_HAZARD_OF = {FIRE: DetectionLabel.FIRE, SMOKE: DetectionLabel.SMOKE, HEAD: DetectionLabel.NO_HELMET}


class SnapFinding(BaseModel):
    """One thing found on the photo."""

    label: str = Field(description="Detector label: person, helmet, head, fire, smoke, vehicle")
    score: float = Field(ge=0, le=1, description="Confidence, 0..1 (heuristics stay at or below 0.6)")
    box: tuple[float, float, float, float] = Field(description="x1, y1, x2, y2 as fractions of the photo")


class SnapReport(BaseModel):
    """The stored result of one AI-snap upload."""

    id: str = Field(description="Report id")
    created_ts: int = Field(description="When it was made, epoch ms")
    filename: str | None = Field(None, description="Name of the uploaded file")
    site_id: str | None = Field(None, description="Site the photo was taken at, if given")
    note: str | None = Field(None, description="What the reporter wrote")
    hazards: list[DetectionLabel] = Field(description="Hazards found, in the detection contract's labels")
    findings: list[SnapFinding] = Field(description="Everything the detectors found")
    detectors: list[str] = Field(description="Detectors that looked at the photo")
    errors: list[str] = Field(default_factory=list, description="Detectors that could not run, and why")
    image_url: str = Field(description="The photo with the boxes drawn")


def new_report_id() -> str:
    """A report id: time-ordered and unguessable."""
    return f"snap-{now_ms()}-{secrets.token_hex(4)}"


def hazards_of(boxes: list[Box], helmet_aware: bool) -> list[DetectionLabel]:
    """Contract labels of the hazards among the boxes; a bare-headed person counts if helmets are sought."""
    found = {_HAZARD_OF[b.label] for b in boxes if b.label in _HAZARD_OF}
    if helmet_aware:
        helmets = [b for b in boxes if b.label == HELMET]
        people = [b for b in boxes if b.label == PERSON and b.width <= b.height]
        if any(not has_helmet(p, helmets) for p in people):
            found.add(DetectionLabel.NO_HELMET)
    return sorted(found)


def report_path(report_dir: Path, report_id: str) -> Path:
    return report_dir / f"{report_id}.json"


def image_path(report_dir: Path, report_id: str) -> Path:
    return report_dir / f"{report_id}.jpg"
