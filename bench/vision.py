"""Speed and quality of the built-in detectors, on one core.

    python -m bench.vision [--seconds 3]

Speed: frames per second per core (OpenCV and onnxruntime held to one thread) on the demo camera's
640 x 360 frames, for each built-in detector, the demo camera's whole detector chain, and the ONNX
pipeline (letterbox, run, decode, NMS) on a stub YOLO graph of real YOLOv8 tensor shapes but almost no
compute: the model's own cost comes on top and depends on the model a site plugs in.

Quality, stated honestly: there is no labelled real-world set on this machine.  Recall and precision
are measured on the demo video's drawn scenes (exact ground truth, synthetic, far easier than real
footage); false alarms are counted on the real scikit-image sample photos that hold no full-body
person (person detector) and no flame (fire heuristic).  Prints one line per figure; the last line is
a JSON object of all figures.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import orjson

from vision.boxes import FIRE, HELMET, PERSON, Box, iou
from vision.detectors import FrameContext, build_detector
from vision.detectors.heuristics import small_grey
from vision.settings import FireSmokeHeuristicConfig, HelmetColourConfig, HogPersonConfig, OnnxYoloConfig
from vision.synthetic import Figure, place

ROOT = Path(__file__).resolve().parent.parent
NEGATIVES = ["coffee", "chelsea", "rocket", "immunohistochemistry", "coins", "horse", "hubble_deep_field",
             "page", "retina", "brick", "gravel", "grass"]  # fmt: skip


def _demo() -> Any:
    spec = importlib.util.spec_from_file_location(
        "make_demo_vision", ROOT / "scripts" / "make_demo_vision.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def _photo(name: str) -> np.ndarray:
    from skimage import data as skdata

    img = np.asarray(getattr(skdata, name)(), dtype=np.uint8)
    if img.ndim == 2:
        return np.asarray(cv2.cvtColor(img, cv2.COLOR_GRAY2BGR), np.uint8)
    return np.asarray(cv2.cvtColor(img[:, :, :3], cv2.COLOR_RGB2BGR), np.uint8)


def fps(run: Callable[[np.ndarray, int], object], frames: list[np.ndarray], seconds: float) -> float:
    """Frames per second of `run` over the frames, cycling, for about `seconds`."""
    n, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        run(frames[n % len(frames)], n)
        n += 1
    return n / (time.perf_counter() - start)


def stub_yolo(path: Path) -> Path:
    """A graph with YOLOv8n's input (1, 3, 640, 640) and output (1, 84, 8400) shapes, near-zero compute."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    pred = rng.random((1, 84, 8400), dtype=np.float32) * np.float32(0.3)
    pred[0, :4] = rng.random((4, 8400), dtype=np.float32) * 600 + 20
    nodes = [
        helper.make_node("ReduceMean", ["images"], ["m"], keepdims=0),
        helper.make_node("Mul", ["m", "zero"], ["z"]),
        helper.make_node("Add", ["pred", "z"], ["output0"]),
    ]
    graph = helper.make_graph(
        nodes,
        "stub",
        [helper.make_tensor_value_info("images", TensorProto.FLOAT, [1, 3, 640, 640])],
        [helper.make_tensor_value_info("output0", TensorProto.FLOAT, [1, 84, 8400])],
        [numpy_helper.from_array(pred, "pred"), numpy_helper.from_array(np.array(0, np.float32), "zero")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    model.metadata_props.add(key="names", value=str({i: f"class{i}" for i in range(80)} | {0: "person"}))
    onnx.save(model, str(path))
    return path


def speed(frames: list[np.ndarray], seconds: float, tmp: Path) -> dict[str, float]:
    """Frames per second per core of each detector and of the demo chain."""
    hog = build_detector("p", HogPersonConfig())
    lying = build_detector("pl", HogPersonConfig(lying=True))
    helmet = build_detector("h", HelmetColourConfig())
    fire = build_detector("f", FireSmokeHeuristicConfig())
    yolo = build_detector("y", OnnxYoloConfig(model=stub_yolo(tmp / "stub.onnx")))
    people = [[b for b in hog.detect(f, FrameContext()) if b.label == PERSON] for f in frames[:24]]
    smalls = [small_grey(f) for f in frames]

    def chain(f: np.ndarray, n: int) -> None:
        ctx = FrameContext(previous=smalls[(n - 1) % len(frames)])
        for det in (lying, helmet, fire):
            ctx.boxes += det.detect(f, ctx)

    return {
        "hog_person": fps(lambda f, n: hog.detect(f, FrameContext()), frames, seconds),
        "hog_person_lying": fps(lambda f, n: lying.detect(f, FrameContext()), frames, seconds),
        "helmet_colour": fps(
            lambda f, n: helmet.detect(frames[n % 24], FrameContext(boxes=people[n % 24])), frames, seconds
        ),
        "fire_smoke_heuristic": fps(
            lambda f, n: fire.detect(f, FrameContext(previous=smalls[(n - 1) % len(frames)])), frames, seconds
        ),
        "onnx_yolo_pipeline_stub_640": fps(lambda f, n: yolo.detect(f, FrameContext()), frames, seconds),
        "demo_chain": fps(chain, frames, seconds),
    }


def _pr(
    found: list[list[Box]], truth: list[list[Box]], label: str, least: float = 0.4
) -> tuple[int, int, int]:
    """(true positives, false negatives, false positives) of one label at IoU >= `least`."""
    tp = fn = fp = 0
    for all_found, want in zip(found, truth, strict=True):
        got = [b for b in all_found if b.label == label]
        used: set[int] = set()
        for t in (b for b in want if b.label == label):
            best = max(((iou(t, g), i) for i, g in enumerate(got) if i not in used), default=(0.0, -1))
            if best[0] >= least:
                tp += 1
                used.add(best[1])
            else:
                fn += 1
        fp += len(got) - len(used)
    return tp, fn, fp


def _ratio(tp: int, fn: int, fp: int) -> dict[str, float]:
    return {"recall": round(tp / max(tp + fn, 1), 3), "precision": round(tp / max(tp + fp, 1), 3)}


def quality(demo: list[tuple[np.ndarray, list[Box]]]) -> dict[str, Any]:
    """Recall / precision on the drawn demo scenes, false alarms on real photos."""
    out: dict[str, Any] = {}
    for name, cfg in (("hog_person", HogPersonConfig()), ("hog_person_lying", HogPersonConfig(lying=True))):
        det = build_detector(name, cfg)
        found = [det.detect(f, FrameContext()) for f, _ in demo]
        out[f"{name}_demo"] = _ratio(*_pr(found, [t for _, t in demo], PERSON))
        boxes = sum(len(det.detect(_photo(p), FrameContext())) for p in NEGATIVES)
        out[f"{name}_false_people_on_{len(NEGATIVES)}_photos"] = boxes
    fire = build_detector("f", FireSmokeHeuristicConfig())
    prev = [small_grey(demo[i - 1][0]) for i in range(len(demo))]
    found = [fire.detect(f, FrameContext(previous=prev[i])) for i, (f, _) in enumerate(demo)]
    out["fire_heuristic_demo"] = _ratio(*_pr(found, [t for _, t in demo], FIRE, 0.3))
    shaken = 0
    for p in [*NEGATIVES, "astronaut"]:
        img = _photo(p)
        ctx = FrameContext(previous=small_grey(np.roll(img, 2, axis=1)))
        shaken += sum(b.label == FIRE for b in fire.detect(img, ctx))
    out[f"fire_heuristic_false_fires_on_{len(NEGATIVES) + 1}_photos_shaken"] = shaken
    out["helmet_colour_accuracy_200_drawn_people"] = _helmet_accuracy(demo[0][0])
    return out


def _helmet_accuracy(background: np.ndarray) -> float:
    """Share of drawn people (half with a hard hat, random colours) the helmet heuristic judges right."""
    rng = np.random.default_rng(7)
    det = build_detector("h", HelmetColourConfig())
    hats = [(0, 200, 255), (0, 120, 255), (40, 40, 220), (200, 120, 30)]
    right = 0
    for i in range(200):
        frame = background.copy()
        has = i % 2 == 0
        shirt = tuple(int(c) for c in rng.integers(30, 220, 3))
        fig = Figure(float(rng.uniform(100, 540)), float(rng.uniform(250, 355)), float(rng.uniform(120, 200)),
                     shirt=shirt, helmet=hats[i % 4] if has else None)  # type: ignore[arg-type]  # fmt: skip
        box = place(frame, fig)
        found = det.detect(frame, FrameContext(boxes=[Box(PERSON, 1.0, *box.as_tuple())]))
        right += (any(b.label == HELMET for b in found)) == has
    return right / 200


def main() -> None:
    """Print the figures; the last line is JSON."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seconds", type=float, default=3.0, help="time per speed figure")
    args = p.parse_args()
    cv2.setNumThreads(1)
    demo = _demo().frames()
    results: dict[str, Any] = {"frame": "640x360", "threads": 1}
    with tempfile.TemporaryDirectory(prefix="safetwin-bench-vision-") as tmp:
        results["fps_per_core"] = {
            k: round(v, 1) for k, v in speed([f for f, _ in demo], args.seconds, Path(tmp)).items()
        }
    for k, v in results["fps_per_core"].items():
        print(f"{k:30s} {v:8.1f} frames/s per core", flush=True)
    results["quality"] = quality(demo)
    for k, v in results["quality"].items():
        print(f"{k:48s} {v}", flush=True)
    print(orjson.dumps(results).decode())


if __name__ == "__main__":
    main()
