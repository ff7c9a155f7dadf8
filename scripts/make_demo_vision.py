"""Generate data/vision/demo-site.mp4: a synthetic construction-site camera for the demo twin.

Deterministic: drawn workers (with and without helmets, one in the pit-edge restricted area, one on
the ladder, one who falls) and a flickering fire over scikit-image's public-domain gravel and brick
textures.  Needs scikit-image (a dev dependency); the runtime only reads the video.
Run ``python scripts/make_demo_vision.py`` (``--check`` to fail if the shipped video is stale).
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from pathlib import Path

import cv2
import numpy as np
from skimage import data as skdata

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from vision.boxes import Box  # noqa: E402
from vision.detectors.base import Frame  # noqa: E402
from vision.synthetic import Figure, flame, place, site_background, walk  # noqa: E402

OUT = ROOT / "data" / "vision" / "demo-site.mp4"
FPS, SECONDS, W, H = 8, 24, 640, 360
BLUE, GREY, GREEN, RED = (150, 90, 40), (120, 120, 120), (60, 130, 60), (40, 60, 160)


def background() -> Frame:
    """Gravel ground and a brick wall, both public-domain scikit-image samples."""
    gravel = cv2.cvtColor(skdata.gravel(), cv2.COLOR_GRAY2BGR)  # type: ignore[no-untyped-call]
    brick = cv2.cvtColor(skdata.brick(), cv2.COLOR_GRAY2BGR)  # type: ignore[no-untyped-call]
    return site_background(np.asarray(gravel, np.uint8), np.asarray(brick, np.uint8), W, H)


def frame_at(bg: Frame, t: float, n: int) -> tuple[Frame, list[Box]]:
    """The frame at `t` seconds and its ground-truth boxes."""
    frame = bg.copy()
    truth: list[Box] = []
    x, sw = walk(t, 0, SECONDS, 0.42 * W, 0.72 * W)  # A: helmet, works across the site all along
    truth.append(place(frame, Figure(x, 0.93 * H, 150, shirt=BLUE, stride=sw)))
    if 2 <= t < 13:  # B: no helmet, walks through the construction area
        x, sw = walk(t, 2, 13, 0.78 * W, 0.5 * W)
        truth.append(place(frame, Figure(x, 0.75 * H, 140, shirt=GREY, helmet=None, stride=sw)))
    if 5 <= t < 15:  # C: helmet, crosses into the pit edge (restricted)
        x, sw = walk(t, 5, 11, 0.45 * W, 0.14 * W)
        truth.append(place(frame, Figure(x, 0.97 * H, 150, shirt=GREEN, stride=sw if t < 11 else 0)))
    if 9 <= t < 19:  # D: helmet, climbs the ladder
        k = min((t - 9) / 8, 1.0)
        truth.append(place(frame, Figure(0.9 * W, (0.99 - 0.3 * k) * H, 140, shirt=BLUE)))
    if 14 <= t < SECONDS:  # E: walks in, falls at 16 s and lies still
        if t < 16:
            x, sw = walk(t, 14, 16, 0.48 * W, 0.38 * W)
            truth.append(place(frame, Figure(x, 0.62 * H, 140, shirt=RED, stride=sw)))
        else:
            truth.append(place(frame, Figure(0.36 * W, 0.62 * H, 140, shirt=RED, lying=True)))
    if t >= 18:
        truth.append(flame(frame, 0.78 * W, 0.42 * H, 60, n))
    noise = np.random.default_rng(n).normal(0, 3, frame.shape)
    return np.clip(frame + noise, 0, 255).astype(np.uint8), truth


def frames() -> list[tuple[Frame, list[Box]]]:
    """Every frame of the demo, with its truth."""
    bg = background()
    return [frame_at(bg, n / FPS, n) for n in range(FPS * SECONDS)]


def write(path: Path) -> str:
    """Write the video; the SHA-256 of its frames (codec-independent) for --check."""
    path.parent.mkdir(parents=True, exist_ok=True)
    out = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"mp4v"), FPS, (W, H))
    digest = hashlib.sha256()
    for frame, _ in frames():
        out.write(frame)
        digest.update(frame.tobytes())
    out.release()
    return digest.hexdigest()


def main(argv: list[str] | None = None) -> int:
    """Write (or with --check, verify) the demo video."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--out", type=Path, default=OUT)
    ap.add_argument("--check", action="store_true", help="exit 1 if the video is missing")
    args = ap.parse_args(argv)
    if args.check:
        ok = (
            args.out.is_file()
            and cv2.VideoCapture(str(args.out)).get(cv2.CAP_PROP_FRAME_COUNT) == FPS * SECONDS
        )
        print("ok" if ok else f"{args.out} is missing or stale: run python scripts/make_demo_vision.py")
        return 0 if ok else 1
    print(f"wrote {args.out} ({write(args.out)[:12]})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
