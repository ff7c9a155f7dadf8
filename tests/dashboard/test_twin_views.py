"""Pure logic of the controls, floor plan, 3D view, tiles and work-order steps (no browser, no server)."""

from __future__ import annotations

import itertools

import pytest
from pydantic import ValidationError

from dashboard.access import ACTUATORS, allowed
from dashboard.client import ApiError
from dashboard.controls import answer_text, command_body, state_text
from dashboard.floorplan import device_point, floor_size, layout_spaces, worst_by_device
from dashboard.orders import NEXT_STEPS, step_body
from dashboard.settings import DashboardSettings
from dashboard.tiles import MAX_TILES, tile_images, tile_range
from dashboard.twin3d import storeys


def test_command_bodies_follow_the_contract_vocabulary() -> None:
    fan = command_body("fan-on", {"speed": 3, "hold": 1800}, "排风")
    assert fan == {
        "action": "set",
        "params": {"on": True, "speed": 3},
        "reason": "排风",
        "expires_in_s": 1800,
    }
    assert command_body("valve-shut", {}, "r")["params"] == {"open": False}
    assert command_body("relay-off", {"hold": 0}, "r")["expires_in_s"] is None  # a one-off command
    text = command_body("speaker-play", {"text": " 请离开 ", "preset": "evacuate", "volume": 60}, "r")
    assert text["action"] == "play" and text["params"] == {"text": "请离开", "volume": 60, "repeat": 1}
    preset = command_body("speaker-play", {"text": "", "preset": "keep_out"}, "r")["params"]
    assert preset == {"preset": "keep_out", "volume": 80, "repeat": 1}
    assert command_body("speaker-stop", {"text": "x"}, "r") == {
        "action": "stop",
        "params": {},
        "reason": "r",
        "expires_in_s": None,
    }


def test_refusals_say_what_happened() -> None:
    assert "404" in answer_text(ApiError("no route", status=404), "zh")
    assert answer_text(ApiError("LEL 30 %", status=409), "en") == "Refused by an interlock: LEL 30 %"
    assert "Not allowed" in answer_text(ApiError("no", status=403), "en")
    assert state_text({"live": {"actuator_state": {"on": True, "speed": 2}}}, "zh") == "运行中 · 2 档"
    assert state_text({"live": {"actuator_state": None}}, "en") == "no state reported yet"


def test_permissions() -> None:
    assert allowed(frozenset({"*"}), ACTUATORS)
    assert allowed(frozenset({ACTUATORS}), ACTUATORS)
    assert not allowed(frozenset({"twin:read"}), ACTUATORS)


def test_spaces_tile_the_floor_without_overlap() -> None:
    spaces = [{"id": f"s{i}", "devices": [{}] * i} for i in range(5)]
    rects = layout_spaces(spaces, 40.0, 20.0)
    assert set(rects) == {f"s{i}" for i in range(5)}
    for x0, y0, x1, y1 in rects.values():
        assert 0 <= x0 < x1 <= 40 and 0 <= y0 < y1 <= 20
    for a, b in itertools.combinations(rects.values(), 2):
        assert a[2] <= b[0] or b[2] <= a[0] or a[3] <= b[1] or b[3] <= a[1]
    assert device_point({"position": {"x": 0.5, "y": 1.0}}, (10, 0, 20, 10), 0, 1) == (15.0, 10.0)


def test_floor_size_from_the_footprint_in_metres() -> None:
    # 0.0002 degrees of longitude at 22.7 N is about 20.5 m; 0.0001 of latitude about 11.1 m
    b = {"footprint": [[114.0, 22.7], [114.0002, 22.7], [114.0002, 22.7001], [114.0, 22.7001]]}
    width, depth = floor_size(b)
    assert 20 < width < 21 and 11 < depth < 11.3


def test_worst_alarm_per_device_and_storeys() -> None:
    alarms = [
        {"severity": "warning", "source_id": "a"},
        {"severity": "emergency", "source_id": "a"},
        {"severity": "alarm", "source_id": "b"},
    ]
    assert worst_by_device(alarms) == {"a": "emergency", "b": "alarm"}
    levels = storeys({"floors_above": 3, "floors_below": 1, "floors": [{"level": 2, "spaces": [{}]}]})
    assert [lv for lv, _z, _held in levels] == [-1, 1, 2, 3]
    assert [held for _lv, _z, held in levels] == [False, False, True, False]
    assert [z for _lv, z, _held in levels] == sorted(z for _lv, z, _held in levels)


def test_tiles_cover_the_twin_with_few_requests() -> None:
    lons, lats = [114.03, 114.07], [22.70, 22.73]
    zoom, xs, ys = tile_range(lons, lats)
    assert len(xs) * len(ys) <= MAX_TILES and 12 <= zoom <= 19
    images = tile_images("http://tiles.local/{z}/{x}/{y}.png", lons, lats)
    assert len(images) == len(xs) * len(ys)
    assert min(i["x"] for i in images) <= min(lons) and max(i["x"] + i["sizex"] for i in images) >= max(lons)
    assert min(i["y"] - i["sizey"] for i in images) <= min(lats) and max(i["y"] for i in images) >= max(lats)
    assert images[0]["source"] == f"http://tiles.local/{zoom}/{xs[0]}/{ys[0]}.png"


def test_tile_url_setting() -> None:
    assert DashboardSettings().tile_url is None
    assert DashboardSettings(tile_url="http://t/{z}/{x}/{y}.png").tile_url == "http://t/{z}/{x}/{y}.png"
    with pytest.raises(ValidationError, match="lacks"):
        DashboardSettings(tile_url="http://t/{z}/{x}.png")


def test_work_order_steps() -> None:
    assert [b for b, _s in NEXT_STEPS["handled"]] == ["verify", "reject"]
    assert step_body("assign", "李值班", "", "") == {"user": "李值班", "assignee": "李值班"}
    assert step_body("reject", "李", "", "复测仍超标") == {"user": "李", "note": "复测仍超标", "ok": False}
    assert step_body("handle", "李", "王工", "已处理") == {"user": "李", "note": "已处理"}
