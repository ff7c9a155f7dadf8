"""Settings of SafeTwin's video analytics: detectors (plugins as data), analytics, storage, workers."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

# SafeTwin's detector labels a model's class can be mapped to ("ignore" drops the class).
DetectorLabel = Literal["person", "helmet", "head", "fire", "smoke", "vehicle", "lying", "ignore"]


class _Config(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class HogPersonConfig(_Config):
    """OpenCV's HOG + linear SVM people detector: built in, no weights to download."""

    type: Literal["hog_person"] = "hog_person"
    win_stride: int = Field(8, ge=4, le=32, description="Step of the detection window, px")
    scale: float = Field(1.05, gt=1.0, le=2.0, description="Image pyramid step")
    hit_threshold: float = Field(
        -0.3,
        ge=-2,
        le=2,
        description="SVM margin a window needs before grouping; lower finds more (and more false)",
    )
    min_score: float = Field(0.3, ge=0, description="Least grouped SVM margin kept (not a probability)")
    lying: bool = Field(
        False, description="Also search the frame turned 90°, to find people lying down (twice the cost)"
    )


class OnnxYoloConfig(_Config):
    """A YOLO-family ONNX export (YOLOv5/v8/v11 or an end-to-end NMS export) run on onnxruntime."""

    type: Literal["onnx_yolo"] = "onnx_yolo"
    model: Path = Field(description="Path of the .onnx file")
    classes: dict[str, DetectorLabel] = Field(
        default_factory=dict,
        description="Model class name -> SafeTwin label; other classes use built-in aliases or are ignored",
    )
    score_threshold: float = Field(0.35, gt=0, lt=1, description="Least class confidence kept, 0..1")
    iou_threshold: float = Field(0.45, gt=0, le=1, description="Overlap above which NMS drops a box")
    output_format: Literal["auto", "yolov8", "yolov5", "end2end"] = Field(
        "auto", description="Layout of the output tensor; 'auto' infers it from its shape and the class count"
    )
    class_agnostic_nms: bool = Field(False, description="Let boxes of different classes suppress each other")
    input_size: tuple[int, int] | None = Field(
        None, description="Input height, width for a dynamic-shape model; read from the model if unset"
    )
    threads: int = Field(1, ge=1, le=64, description="onnxruntime intra-op threads per worker process")


class FireSmokeHeuristicConfig(_Config):
    """HEURISTIC fire and smoke finder from colour and flicker; no model.  Expect false alarms."""

    type: Literal["fire_smoke_heuristic"] = "fire_smoke_heuristic"
    min_area: float = Field(0.002, gt=0, lt=1, description="Least region size, fraction of the frame area")
    motion_threshold: int = Field(10, ge=1, le=255, description="Grey-level change that counts as flicker")
    min_moving: float = Field(0.2, ge=0, le=1, description="Least share of a region's pixels that flicker")
    smoke: bool = Field(True, description="Also look for smoke (grey, soft, moving regions)")


class HelmetColourConfig(_Config):
    """HEURISTIC hard-hat finder: a saturated helmet colour in the head region of each person box."""

    type: Literal["helmet_colour"] = "helmet_colour"
    min_fraction: float = Field(
        0.12, gt=0, le=1, description="Least share of the head region in a helmet colour"
    )
    white: bool = Field(
        False, description="Count white as a helmet colour (more false helmets on bright skies)"
    )


DetectorConfig = Annotated[
    HogPersonConfig | OnnxYoloConfig | FireSmokeHeuristicConfig | HelmetColourConfig,
    Field(discriminator="type"),
]


def _default_detectors() -> dict[str, DetectorConfig]:
    return {
        "person": HogPersonConfig(),
        "person_lying": HogPersonConfig(lying=True),
        "helmet": HelmetColourConfig(),
        "fire_smoke": FireSmokeHeuristicConfig(),
    }


class AnalyticsSettings(_Config):
    """How detections become incidents."""

    min_event_s: float = Field(1.0, ge=0, description="A condition must hold this long to become an event, s")
    end_after_s: float = Field(4.0, gt=0, description="An event ends when its condition is gone this long, s")
    update_every_s: float = Field(10.0, gt=0, description="Longest time between 'update' messages, s")
    track_max_age_s: float = Field(2.0, gt=0, description="A track unmatched this long is dropped, s")
    track_min_iou: float = Field(0.2, gt=0, lt=1, description="Least overlap that continues a track")
    fall_aspect: float = Field(1.2, gt=0, description="Width / height above which a person is lying")
    fall_after_s: float = Field(3.0, ge=0, description="Lying and still this long is a fall, s")
    still_fraction: float = Field(0.05, gt=0, description="Most movement of a still person, frame fraction")
    publish_person: bool = Field(False, description="Also publish plain 'person' events (noisy)")
    headcount_grace_s: float = Field(10.0, ge=0, description="More people seen than checked in this long, s")


class VisionSettings(BaseModel):
    """SafeTwin's own video analytics for plain IP cameras (twin cameras with a `camera:` block)."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = Field(True, description="Run analytics for the twin's cameras that have a camera block")
    data_dir: Path = Field(Path("var/vision"), description="Snapshots, AI-snap reports and the roster")
    media_dir: Path = Field(Path("."), description="Base of relative camera source paths")
    workers: int = Field(0, ge=0, le=256, description="Detector worker processes; 0: one per core less one")
    client_id: str = Field(
        "safetwin-vision", pattern=r"^[^/#+\s]+$", description="MQTT client id of the vision publisher"
    )
    detectors: dict[str, DetectorConfig] = Field(
        default_factory=_default_detectors, description="Named detector plugins cameras refer to"
    )
    default_detectors: list[str] = Field(
        default_factory=lambda: ["person", "helmet"],
        description="Detectors of a camera whose block names none",
    )
    snap_detectors: list[str] = Field(
        default_factory=lambda: ["person", "helmet", "fire_smoke"],
        description="Detectors run on AI-snap photos",
    )
    analytics: AnalyticsSettings = Field(default_factory=AnalyticsSettings)
    snapshot_url_base: str = Field(
        "/api/v1/snapshots", description="Prefix of the snapshot links in detection events"
    )
    snapshot_keep: int = Field(5000, ge=10, description="Most snapshots kept; the oldest go first")
    publish_queue: int = Field(2000, ge=10, description="Most events waiting while the broker is away")
    max_upload_bytes: int = Field(20 * 1024 * 1024, gt=0, description="Largest uploaded photo, bytes")
    reconnect_min_s: float = Field(
        1.0, gt=0, description="First wait before a lost stream is opened again, s"
    )
    reconnect_max_s: float = Field(30.0, gt=0, description="Longest wait between stream reconnects, s")

    @model_validator(mode="after")
    def _check_names(self) -> VisionSettings:
        for field in ("default_detectors", "snap_detectors"):
            unknown = [n for n in getattr(self, field) if n not in self.detectors]
            if unknown:
                raise ValueError(
                    f"vision.{field} names unknown detectors {unknown}; known: {sorted(self.detectors)}"
                )
        if self.reconnect_min_s > self.reconnect_max_s:
            raise ValueError("vision.reconnect_min_s must not exceed vision.reconnect_max_s")
        return self

    @property
    def snapshot_dir(self) -> Path:
        return self.data_dir / "snapshots"

    @property
    def report_dir(self) -> Path:
        return self.data_dir / "reports"

    @property
    def roster_path(self) -> Path:
        return self.data_dir / "roster.sqlite"
