"""The twin's camera blocks: only cameras carry one, zones are checked, the demo camera is analysed."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from twin.loader import load_twin_file
from twin.model import CameraSpec, DeviceSpec, ZoneSpec
from twin.twin import Twin
from vision.settings import VisionSettings

ROOT = Path(__file__).resolve().parents[2]


def test_only_camera_devices_take_a_camera_block() -> None:
    block = {"source": "rtsp://10.0.0.7/ch1"}
    assert DeviceSpec.model_validate({"id": "c1", "kind": "camera", "camera": block}).camera is not None
    with pytest.raises(ValidationError, match="only camera devices"):
        DeviceSpec.model_validate({"id": "co1", "kind": "co_sensor", "camera": block})


@pytest.mark.parametrize(
    ("zone", "says"),
    [
        ({"name": "a", "kind": "restricted", "polygon": [[0, 0], [1.2, 0], [1, 1]]}, "outside the frame"),
        ({"name": "a", "kind": "restricted", "polygon": [[0, 0], [1, 0]]}, "at least 3"),
        ({"name": "a", "kind": "loitering", "polygon": [[0, 0], [1, 0], [1, 1]]}, "loiter_s"),
        ({"name": "a", "kind": "moat", "polygon": [[0, 0], [1, 0], [1, 1]]}, "restricted"),
    ],
)
def test_bad_zones_are_refused_with_a_reason(zone: dict[str, object], says: str) -> None:
    with pytest.raises(ValidationError, match=says):
        ZoneSpec.model_validate(zone)


def test_zone_names_unique_and_fps_bounded() -> None:
    z = {"name": "a", "kind": "general", "polygon": [[0, 0], [1, 0], [1, 1]]}
    with pytest.raises(ValidationError, match="unique"):
        CameraSpec.model_validate({"source": "x.mp4", "zones": [z, z]})
    with pytest.raises(ValidationError, match="fps"):
        CameraSpec.model_validate({"source": "x.mp4", "fps": 0})


def test_demo_twin_camera_uses_shipped_media_and_known_detectors() -> None:
    twin = Twin(load_twin_file(ROOT / "data" / "demo-twin.yaml"))
    analysed = {d: p.spec.camera for d, p in twin.devices.items() if p.spec.camera is not None}
    assert list(analysed) == ["gl-ljp2-z01-cam-01"]
    spec = analysed["gl-ljp2-z01-cam-01"]
    assert (ROOT / spec.source).is_file() and (ROOT / spec.source).stat().st_size < 5_000_000
    assert set(spec.detectors or []) <= set(VisionSettings().detectors)
    assert {z.kind for z in spec.zones} == {"restricted", "construction", "ladder"}


def test_vision_settings_refuse_unknown_names_and_fields() -> None:
    with pytest.raises(ValidationError, match="unknown detectors"):
        VisionSettings(default_detectors=["nope"])
    with pytest.raises(ValidationError, match="extra"):
        VisionSettings.model_validate({"enabeld": True})
