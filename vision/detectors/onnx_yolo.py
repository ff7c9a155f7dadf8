"""A generic YOLO-family ONNX detector on onnxruntime: letterbox, run, decode, non-maximum suppression.

Input size and class names come from the model (Ultralytics exports carry `imgsz` and `names` in their
metadata); the config maps the model's class names to SafeTwin's labels.
"""

from __future__ import annotations

import ast
import json
import logging
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np
import onnxruntime as ort
from numpy.typing import NDArray

from vision.boxes import Box, batched_nms, nms
from vision.detectors.base import Frame, FrameContext
from vision.errors import DetectorError
from vision.settings import OnnxYoloConfig

log = logging.getLogger(__name__)

ALIASES: dict[str, str] = {
    **dict.fromkeys(("person", "people", "pedestrian", "worker"), "person"),
    **dict.fromkeys(("helmet", "hardhat", "hard-hat", "hard_hat", "hat", "safety_helmet"), "helmet"),
    **dict.fromkeys(("head", "no_helmet", "no-helmet", "nohelmet", "no-hardhat", "no_hardhat"), "head"),
    **dict.fromkeys(("fire", "flame"), "fire"),
    "smoke": "smoke",
    **dict.fromkeys(("car", "truck", "bus", "motorcycle", "motorbike", "vehicle"), "vehicle"),
}


@dataclass(frozen=True, slots=True)
class Letterbox:
    """How a frame was fitted into the model input: scale, then padding left and top."""

    ratio: float
    pad_x: float
    pad_y: float


def letterbox(frame: Frame, size: tuple[int, int]) -> tuple[Frame, Letterbox]:
    """Resize keeping the aspect ratio and pad with grey 114 to `size` (height, width)."""
    h, w = frame.shape[:2]
    th, tw = size
    r = min(th / h, tw / w)
    nw, nh = round(w * r), round(h * r)
    resized = cv2.resize(frame, (nw, nh), interpolation=cv2.INTER_LINEAR) if (nw, nh) != (w, h) else frame
    px, py = (tw - nw) / 2, (th - nh) / 2
    top, left = round(py - 0.1), round(px - 0.1)
    out = cv2.copyMakeBorder(
        resized, top, th - nh - top, left, tw - nw - left, cv2.BORDER_CONSTANT, value=(114, 114, 114)
    )
    return np.asarray(out, dtype=np.uint8), Letterbox(r, float(left), float(top))


def parse_names(raw: str | None) -> dict[int, str]:
    """Class names from model metadata: a Python or JSON dict {0: 'person'} or a list."""
    if not raw:
        return {}
    try:
        value: Any = ast.literal_eval(raw)
    except (ValueError, SyntaxError):
        try:
            value = json.loads(raw)
        except json.JSONDecodeError:
            return {}
    if isinstance(value, list):
        return {i: str(n) for i, n in enumerate(value)}
    if isinstance(value, dict):
        return {int(k): str(v) for k, v in value.items()}
    return {}


def _size_from(shape: list[Any], meta: dict[str, str], config: OnnxYoloConfig) -> tuple[int, int] | None:
    if config.input_size is not None:
        return config.input_size
    if len(shape) == 4 and isinstance(shape[2], int) and isinstance(shape[3], int):
        return shape[2], shape[3]
    try:
        imgsz = ast.literal_eval(meta.get("imgsz", ""))
    except (ValueError, SyntaxError):
        return None
    if isinstance(imgsz, int):
        return imgsz, imgsz
    if isinstance(imgsz, list | tuple) and len(imgsz) == 2:
        return int(imgsz[0]), int(imgsz[1])
    return None


def decode(
    out: NDArray[np.float32], fmt: str, nc: int | None
) -> tuple[NDArray[np.float32], NDArray[np.float32], NDArray[np.int64], bool]:
    """(x1y1x2y2 boxes, scores, classes, already suppressed) from a YOLO output tensor of one image."""
    pred = out[0] if out.ndim == 3 else out
    if fmt == "auto":
        fmt = _infer_format(pred.shape, nc)
    if fmt == "end2end":
        return (
            pred[:, :4].astype(np.float32),
            pred[:, 4].astype(np.float32),
            pred[:, 5].astype(np.int64),
            True,
        )
    if fmt == "yolov8":
        rows_are_candidates = pred.shape[0] != 4 + nc if nc is not None else pred.shape[0] > pred.shape[1]
        if not rows_are_candidates:  # Ultralytics writes (4 + classes) x candidates
            pred = pred.T
        cls_scores = pred[:, 4:]
    else:
        cls_scores = pred[:, 5:] * pred[:, 4:5]
    classes = np.argmax(cls_scores, axis=1).astype(np.int64)
    scores = cls_scores[np.arange(len(cls_scores)), classes].astype(np.float32)
    cx, cy, bw, bh = pred[:, 0], pred[:, 1], pred[:, 2], pred[:, 3]
    boxes = np.stack([cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2], axis=1).astype(np.float32)
    return boxes, scores, classes, False


def _infer_format(shape: tuple[int, ...], nc: int | None) -> str:
    rows, cols = shape
    if nc is not None:
        if rows == 4 + nc:
            return "yolov8"
        if cols == 5 + nc:
            return "yolov5"
        if cols == 4 + nc:
            return "yolov8"
        if cols == 6:
            return "end2end"
    return "yolov8" if rows < cols else "yolov5"


class OnnxYoloDetector:
    """Runs one YOLO ONNX export; boxes of classes mapped to SafeTwin labels."""

    def __init__(self, name: str, config: OnnxYoloConfig) -> None:
        self.name = name
        self.config = config
        if not config.model.is_file():
            raise DetectorError(name, f"model file {config.model} does not exist")
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = config.threads
        opts.inter_op_num_threads = 1
        try:
            self.session = ort.InferenceSession(str(config.model), opts, providers=["CPUExecutionProvider"])
        except Exception as err:  # onnxruntime raises its own untyped family for a bad file
            raise DetectorError(name, f"onnxruntime cannot load {config.model}: {err}") from err
        meta = dict(self.session.get_modelmeta().custom_metadata_map)
        self.names = parse_names(meta.get("names"))
        inp = self.session.get_inputs()[0]
        self.input_name = inp.name
        self.half = "float16" in inp.type
        size = _size_from(list(inp.shape), meta, config)
        if size is None:
            raise DetectorError(
                name, "the model input size is dynamic and not in its metadata; set input_size"
            )
        self.size = size
        mapped = {self.label_of(i) for i in self.names} | set(config.classes.values())
        self.labels = frozenset(lb for lb in mapped if lb and lb != "ignore")
        log.info(
            "detector %s: %s, input %dx%d, %d classes", name, config.model, size[1], size[0], len(self.names)
        )

    def label_of(self, cls: int) -> str | None:
        """SafeTwin label of a model class, or None if it is not used."""
        name = self.names.get(cls, str(cls))
        label = (
            self.config.classes.get(name) or self.config.classes.get(str(cls)) or ALIASES.get(name.lower())
        )
        return None if label in (None, "ignore") else label

    def detect(self, frame: Frame, ctx: FrameContext) -> list[Box]:
        """Letterbox, infer, decode, suppress, map back to frame fractions."""
        img, lb = letterbox(frame, self.size)
        blob = np.asarray(cv2.cvtColor(img, cv2.COLOR_BGR2RGB)).transpose(2, 0, 1)[None]
        tensor = (blob / np.float32(255.0)).astype(np.float16 if self.half else np.float32)
        out = self.session.run(None, {self.input_name: tensor})[0]
        return self.postprocess(np.asarray(out, dtype=np.float32), lb, frame.shape[1], frame.shape[0])

    def postprocess(self, out: NDArray[np.float32], lb: Letterbox, width: int, height: int) -> list[Box]:
        """Decoded, thresholded, suppressed boxes as frame fractions."""
        cfg = self.config
        nc = len(self.names) or None
        boxes, scores, classes, done = decode(out, cfg.output_format, nc)
        labels = [self.label_of(int(c)) for c in classes]
        keep_mask = (scores >= cfg.score_threshold) & np.array(
            [lb_ is not None for lb_ in labels], dtype=bool
        )
        idx = np.nonzero(keep_mask)[0]
        boxes, scores, classes = boxes[idx], scores[idx], classes[idx]
        if not done:
            if cfg.class_agnostic_nms:
                kept = nms(boxes, scores, cfg.iou_threshold)
            else:
                kept = batched_nms(boxes, scores, classes, cfg.iou_threshold)
        else:
            kept = list(np.argsort(-scores, kind="stable"))
        result = []
        for i in kept:
            x1, y1, x2, y2 = boxes[i]
            fx = [(float(x1) - lb.pad_x) / lb.ratio / width, (float(x2) - lb.pad_x) / lb.ratio / width]
            fy = [(float(y1) - lb.pad_y) / lb.ratio / height, (float(y2) - lb.pad_y) / lb.ratio / height]
            label = labels[int(idx[i])]
            assert label is not None
            result.append(Box(label, float(scores[i]), fx[0], fy[0], fx[1], fy[1]).clipped())
        return result
