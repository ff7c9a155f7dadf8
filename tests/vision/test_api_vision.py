"""The vision routes over a real VisionService (worker pool, roster file) behind uvicorn, read with httpx."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cv2
import httpx
import numpy as np
import pytest

from api.app import create_api
from core.contract import Topics
from core.settings import MqttSettings
from tests.api.support import Parts, make_parts, serve
from tests.vision.support import H, W, photo, scene
from vision.service import VisionService
from vision.settings import VisionSettings
from vision.synthetic import Figure

PROBLEM = "application/problem+json"


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[httpx.Client, VisionService, Parts]]:
    tmp = tmp_path_factory.mktemp("vision-api")
    parts = make_parts(tmp)
    settings = VisionSettings(data_dir=tmp / "vision", workers=1, max_upload_bytes=2_000_000)
    service = VisionService(settings, parts.twin, Topics(), MqttSettings())
    service.open()
    ctx = dataclasses.replace(parts.ctx, vision=service)
    try:
        with (
            serve(create_api(ctx)) as base,
            httpx.Client(base_url=f"{base}/api/v1", timeout=30, headers=parts.admin) as c,
        ):
            yield c, service, parts
    finally:
        service.close()
        parts.close()


def problem(r: httpx.Response, status: int) -> dict[str, Any]:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith(PROBLEM)
    body: dict[str, Any] = r.json()
    assert body["status"] == status and body["detail"]
    return body


def _jpeg(img: np.ndarray) -> bytes:
    return cv2.imencode(".jpg", img)[1].tobytes()


def test_roster_register_list_and_remove(setup: tuple[httpx.Client, VisionService, Parts]) -> None:
    c, _, _ = setup
    r = c.post(
        "/sites/gs/roster",
        json={"person_id": "W-7", "name": "王五", "role": "架子工", "safety_trained": True},
    )
    assert r.status_code == 201 and r.json()["site_id"] == "gs" and r.json()["checked_in"] is False
    assert [w["person_id"] for w in c.get("/sites/gs/roster").json()] == ["W-7"]
    assert problem(c.post("/sites/nowhere/roster", json={"person_id": "a", "name": "b"}), 404)
    body = problem(c.post("/sites/gs/roster", json={"name": "no id"}), 422)
    assert "person_id" in body["detail"]
    assert c.delete("/sites/gs/roster/W-7").status_code == 204
    assert problem(c.delete("/sites/gs/roster/W-7"), 404)


def test_ai_snap_finds_the_bare_head_and_stores_the_report(
    setup: tuple[httpx.Client, VisionService, Parts],
) -> None:
    c, _, _ = setup
    frame, _ = scene(
        [Figure(0.3 * W, 0.95 * H, 150), Figure(0.7 * W, 0.95 * H, 150, helmet=None)], fire_phase=3
    )
    r = c.post(
        "/vision/snap",
        files={"file": ("site.jpg", _jpeg(frame), "image/jpeg")},
        data={"site_id": "gs", "note": "东门"},
    )
    assert r.status_code == 201, r.text
    report = r.json()
    assert "no_helmet" in report["hazards"]
    assert sum(f["label"] == "person" for f in report["findings"]) == 2
    assert report["site_id"] == "gs" and report["detectors"] == ["person", "helmet", "fire_smoke"]
    assert c.get(f"/vision/snap/{report['id']}").json() == report
    img = c.get(report["image_url"].removeprefix("/api/v1"))
    assert img.status_code == 200 and img.content[:3] == b"\xff\xd8\xff"
    # a photo of no hazard
    quiet = c.post("/vision/snap", files={"file": ("c.jpg", _jpeg(photo("coffee")), "image/jpeg")}).json()
    assert quiet["hazards"] == []


def test_ai_snap_refusals_are_problem_json(setup: tuple[httpx.Client, VisionService, Parts]) -> None:
    c, _, _ = setup
    bad = problem(c.post("/vision/snap", files={"file": ("x.jpg", b"not a photo", "image/jpeg")}), 422)
    assert bad["errors"][0]["field"] == "file"
    assert problem(c.post("/vision/snap", files={"file": ("x.jpg", b"\0" * 2_000_001, "image/jpeg")}), 413)
    assert problem(c.get("/vision/snap/snap-1-deadbeef"), 404)
    assert problem(c.get("/vision/snap/..%2F..%2Fetc"), 404)


def test_change_detection_upload_returns_map_polygons(
    setup: tuple[httpx.Client, VisionService, Parts],
) -> None:
    c, _, _ = setup
    before = photo("astronaut")
    after = np.roll(before, (5, 9), axis=(0, 1)).copy()
    cv2.rectangle(after, (109, 305), (169, 355), (30, 30, 220), -1)  # a new shed, at (100..160, 300..350)
    bounds = {"west": "114.05", "south": "22.72", "east": "114.052", "north": "22.722"}
    files = {"before": ("a.jpg", _jpeg(before), "image/jpeg"), "after": ("b.jpg", _jpeg(after), "image/jpeg")}
    r = c.post("/vision/change", files=files, data=bounds)
    assert r.status_code == 200, r.text
    [region] = r.json()["regions"]
    lon, lat = region["polygon"][0]
    assert 114.05 < lon < 114.052 and 22.72 < lat < 22.722
    body = problem(c.post("/vision/change", files=files, data={**bounds, "west": "114.06"}), 422)
    assert "west" in body["detail"]


def test_snapshots_and_cameras(setup: tuple[httpx.Client, VisionService, Parts]) -> None:
    c, service, _ = setup
    path: Path = service.settings.snapshot_dir / "cam-1-1-1.jpg"
    path.write_bytes(_jpeg(photo("coffee")))
    r = c.get("/snapshots/cam-1-1-1.jpg")
    assert r.status_code == 200 and r.headers["content-type"] == "image/jpeg"
    assert problem(c.get("/snapshots/..%2Fvision.sqlite"), 404)
    assert problem(c.get("/snapshots/missing.jpg"), 404)
    assert c.get("/vision/cameras").json() == []
    assert c.get("/vision/events").json()["total"] == 0
