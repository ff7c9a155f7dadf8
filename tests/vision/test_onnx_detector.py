"""The ONNX YOLO detector on real onnxruntime sessions of small graphs with known outputs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.vision.support import onnx_model
from vision.boxes import batched_nms, nms
from vision.detectors import FrameContext, build_detector
from vision.detectors.onnx_yolo import OnnxYoloDetector, letterbox, parse_names
from vision.errors import DetectorError
from vision.settings import OnnxYoloConfig

NAMES = "{0: 'person', 1: 'hardhat', 2: 'dog'}"


def _v8(cands: list[tuple[float, float, float, float, list[float]]]) -> np.ndarray:
    """A YOLOv8 output (1, 4 + classes, candidates) from (cx, cy, w, h, class scores)."""
    rows = [[cx, cy, w, h, *scores] for cx, cy, w, h, scores in cands]
    return np.array(rows, np.float32).T[None]


def _detector(path: Path, **cfg: object) -> OnnxYoloDetector:
    det = build_detector("yolo", OnnxYoloConfig.model_validate({"model": path, **cfg}))
    assert isinstance(det, OnnxYoloDetector)
    return det


def test_yolov8_decode_threshold_nms_and_letterbox_back_to_frame(tmp_path: Path) -> None:
    out = _v8(
        [
            (32, 32, 20, 20, [0.9, 0.0, 0.0]),  # a person
            (33, 32, 20, 20, [0.8, 0.0, 0.0]),  # the same person again: suppressed
            (33, 32, 20, 20, [0.0, 0.7, 0.0]),  # a hard hat at the same place: another class, kept
            (10, 10, 4, 4, [0.2, 0.0, 0.0]),  # below the threshold
            (50, 50, 8, 8, [0.0, 0.0, 0.95]),  # a dog: not a SafeTwin class
        ]
    )
    det = _detector(onnx_model(tmp_path / "m.onnx", out, names=NAMES))
    assert det.size == (64, 64) and det.names == {0: "person", 1: "hardhat", 2: "dog"}
    assert det.labels == frozenset({"person", "helmet"})
    # a 128 x 64 frame is scaled by 0.5 to 64 x 32 and padded by 16 px top and bottom
    boxes = det.detect(np.zeros((64, 128, 3), np.uint8), FrameContext())
    assert [(b.label, round(b.score, 3)) for b in boxes] == [("person", 0.9), ("helmet", 0.7)]
    person = boxes[0]
    # x: (32 -+ 10) / 0.5 / 128; y: (32 -+ 10 - 16) / 0.5 / 64
    assert person.as_tuple() == (0.3438, 0.1875, 0.6562, 0.8125)


def test_yolov5_layout_multiplies_objectness(tmp_path: Path) -> None:
    rows = [[32, 32, 16, 16, 0.5, 0.9, 0.1, 0.0], [32, 32, 16, 16, 0.9, 0.1, 0.2, 0.0]]
    path = onnx_model(tmp_path / "v5.onnx", np.array(rows, np.float32)[None], names=NAMES)
    boxes = _detector(path, score_threshold=0.3).detect(np.zeros((64, 64, 3), np.uint8), FrameContext())
    assert [(b.label, round(b.score, 3)) for b in boxes] == [("person", 0.45)]  # 0.9 x 0.5; 0.18 dropped
    assert (boxes[0].x1, boxes[0].y1, boxes[0].x2, boxes[0].y2) == (0.375, 0.375, 0.625, 0.625)


def test_end2end_layout_and_class_mapping_by_config(tmp_path: Path) -> None:
    rows = [[8, 8, 24, 40, 0.8, 2], [30, 30, 40, 40, 0.6, 0], [0, 0, 1, 1, 0.1, 0]]
    path = onnx_model(tmp_path / "e2e.onnx", np.array(rows, np.float32)[None], names=NAMES)
    det = _detector(path, classes={"dog": "vehicle", "person": "ignore"}, output_format="end2end")
    boxes = det.detect(np.zeros((64, 64, 3), np.uint8), FrameContext())
    assert [(b.label, b.as_tuple()) for b in boxes] == [("vehicle", (0.125, 0.125, 0.375, 0.625))]


def test_dynamic_input_reads_imgsz_metadata(tmp_path: Path) -> None:
    path = onnx_model(
        tmp_path / "dyn.onnx",
        _v8([(16, 16, 8, 8, [0.9, 0, 0])]),
        names=NAMES,
        imgsz="[32, 32]",
        input_shape=("batch", 3, "height", "width"),
    )
    assert _detector(path).size == (32, 32)


def test_missing_model_and_unknown_size_are_detector_errors(tmp_path: Path) -> None:
    with pytest.raises(DetectorError, match="does not exist"):
        _detector(tmp_path / "nope.onnx")
    path = onnx_model(tmp_path / "d.onnx", _v8([(1, 1, 1, 1, [1, 0, 0])]), input_shape=("b", 3, "h", "w"))
    with pytest.raises(DetectorError, match="input_size"):
        _detector(path)
    (tmp_path / "junk.onnx").write_bytes(b"not a model")
    with pytest.raises(DetectorError, match="cannot load"):
        _detector(tmp_path / "junk.onnx")


def test_nms_exact() -> None:
    boxes = np.array([[0, 0, 10, 10], [1, 1, 11, 11], [20, 20, 30, 30], [0, 0, 10, 9]], np.float32)
    scores = np.array([0.5, 0.9, 0.3, 0.4], np.float32)
    # IoU(1, 0) = 81 / 119 = 0.68; IoU(1, 3) = 72 / 118 = 0.61; box 2 is apart
    assert nms(boxes, scores, 0.5) == [1, 2]
    assert nms(boxes, scores, 0.65) == [1, 3, 2]
    assert batched_nms(boxes, scores, np.array([0, 0, 0, 1]), 0.5) == [1, 3, 2]


def test_letterbox_and_names() -> None:
    img, lb = letterbox(np.full((100, 200, 3), 7, np.uint8), (64, 64))
    assert img.shape == (64, 64, 3) and (lb.ratio, lb.pad_x, lb.pad_y) == (0.32, 0.0, 16.0)
    assert img[0, 0, 0] == 114 and img[32, 32, 0] == 7
    assert parse_names("['a', 'b']") == {0: "a", 1: "b"}
    assert parse_names('{"0": "fire"}') == {0: "fire"}
    assert parse_names("garbage{") == {}
