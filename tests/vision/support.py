"""Shared pieces of the vision tests: real sample photos, synthetic scenes, small ONNX graphs, videos."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
from skimage import data as skdata

from vision.boxes import Box
from vision.synthetic import Figure, flame, place, site_background

W, H = 640, 360


def photo(name: str) -> np.ndarray:
    """A public-domain scikit-image sample photo as BGR."""
    img = np.asarray(getattr(skdata, name)(), dtype=np.uint8)
    return cv2.cvtColor(img, cv2.COLOR_GRAY2BGR if img.ndim == 2 else cv2.COLOR_RGB2BGR)


def background() -> np.ndarray:
    """The demo's site backdrop from scikit-image's gravel and brick textures."""
    return site_background(photo("gravel"), photo("brick"), W, H)


def scene(figures: list[Figure], fire_phase: int | None = None) -> tuple[np.ndarray, list[Box]]:
    """A frame with these figures (and a flame), and its ground truth."""
    frame = background()
    truth = [place(frame, f) for f in figures]
    if fire_phase is not None:
        truth.append(flame(frame, 0.78 * W, 0.42 * H, 60, fire_phase))
    return frame, truth


def write_video(path: Path, frames: list[np.ndarray], fps: float) -> Path:
    """An MPEG-4 file of the frames."""
    h, w = frames[0].shape[:2]
    out = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"mp4v"), fps, (w, h))
    for f in frames:
        out.write(f)
    out.release()
    return path


def onnx_model(
    path: Path,
    output: np.ndarray,
    *,
    names: str | None = None,
    imgsz: str | None = None,
    input_shape: tuple[int | str, ...] = (1, 3, 64, 64),
) -> Path:
    """A graph whose output is the constant `output` (plus 0 x the input), with Ultralytics-style metadata.

    The input still flows into the output, so onnxruntime checks its shape and type as for a real model.
    """
    images = helper.make_tensor_value_info("images", TensorProto.FLOAT, list(input_shape))
    out = helper.make_tensor_value_info("output0", TensorProto.FLOAT, list(output.shape))
    nodes = [
        helper.make_node("ReduceSum", ["images"], ["total"], keepdims=0),
        helper.make_node("Mul", ["total", "zero"], ["nothing"]),
        helper.make_node("Add", ["pred", "nothing"], ["output0"]),
    ]
    inits = [
        numpy_helper.from_array(output.astype(np.float32), "pred"),
        numpy_helper.from_array(np.array(0.0, np.float32), "zero"),
    ]
    graph = helper.make_graph(nodes, "yolo-stub", [images], [out], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    meta = {"names": names, "imgsz": imgsz}
    for key, value in meta.items():
        if value is not None:
            model.metadata_props.add(key=key, value=value)
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path
