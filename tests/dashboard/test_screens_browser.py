"""The map page on a 1920x1080 and a 3840x2160 wall screen (no scrolling), on a phone, and over tiles."""

from __future__ import annotations

import json
import struct
import threading
import zlib
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from selenium import webdriver
from selenium.webdriver.support.ui import WebDriverWait

from core.alarms import Severity
from tests.dashboard.support import SCREENSHOTS, DemoSite, chromium, co_alarm, demo_site, fill_live, login

pytestmark = pytest.mark.browser

LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1"}
MAP_DRAWN = "return document.querySelectorAll('#map .scatterlayer .trace path').length > 0"


@pytest.fixture
def site(tmp_path: Path) -> Iterator[DemoSite]:
    with demo_site(tmp_path) as s:
        fill_live(s)
        s.alarms.on_signal(co_alarm(s.twin, "gl-lj-b01-b1-co-01", 420.0, Severity.EMERGENCY))
        s.alarms.on_signal(co_alarm(s.twin, "gl-gh-b02-b1-co-01", 80.0, Severity.ALARM))
        yield s


def _hosts(driver: webdriver.Chrome) -> set[str]:
    """Hosts of every request the page made, from Chromium's performance (DevTools) log."""
    hosts: set[str] = set()
    for entry in driver.get_log("performance"):  # type: ignore[no-untyped-call]  # untyped in selenium
        message = json.loads(entry["message"])["message"]
        if message["method"] == "Network.requestWillBeSent":
            url = urlsplit(message["params"]["request"]["url"])
            if url.scheme in ("http", "https", "ws", "wss"):
                hosts.add(url.hostname or "")
    return hosts


def _box(driver: webdriver.Chrome, css: str) -> dict[str, float]:
    box: dict[str, float] = driver.execute_script(
        "const r = document.querySelector(arguments[0]).getBoundingClientRect();"
        "return {top: r.top, bottom: r.bottom, width: r.width, height: r.height};",
        css,
    )
    return box


def _open_map(driver: webdriver.Chrome, base: str, alarms: int = 2) -> None:
    login(driver, base)
    driver.get(f"{base}/")
    WebDriverWait(driver, 30, poll_frequency=0.2).until(lambda d: d.execute_script(MAP_DRAWN))
    WebDriverWait(driver, 10, poll_frequency=0.2).until(
        lambda d: d.execute_script("return document.querySelectorAll('tr[data-alarm]').length") >= alarms
    )


@pytest.mark.parametrize("size", ["1920,1080", "3840,2160"])
def test_big_screen_fits_without_scrolling(site: DemoSite, tmp_path: Path, size: str) -> None:
    driver = chromium(tmp_path / "profile", size)
    try:
        _open_map(driver, site.base)
        page: dict[str, int] = driver.execute_script(
            "const e = document.documentElement; return {sh: e.scrollHeight, sw: e.scrollWidth,"
            " ih: window.innerHeight, iw: window.innerWidth};"
        )
        assert page["sh"] <= page["ih"] and page["sw"] <= page["iw"], page
        width, height = (int(v) for v in size.split(","))
        assert (page["iw"], page["ih"]) == (width, height)
        # Map, KPIs and the alarm list all lie on the screen, and the map takes most of it.
        for css in ("#map", ".kpi-strip", ".alarm-panel"):
            box = _box(driver, css)
            assert box["height"] > 0 and box["bottom"] <= height, (css, box)
        assert _box(driver, "#map")["width"] > width * 0.5
        # Text on a 4K wall is drawn at twice the size: as legible from across the room as on 1080p.
        kpi_px = float(
            driver.execute_script(
                "return parseFloat(getComputedStyle(document.querySelector("
                "'.kpi-value')).fontSize) * (parseFloat(getComputedStyle("
                "document.body).zoom) || 1)"
            )
        )
        assert kpi_px >= 36 * width / 1920 - 1
        assert _hosts(driver) <= LOCAL_HOSTS  # no tile URL set: nothing asked of any other host
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        driver.save_screenshot(str(SCREENSHOTS / f"big-screen-{width}x{height}.png"))
    finally:
        driver.quit()


def test_phone_shows_the_map_and_the_alarm_list(site: DemoSite, tmp_path: Path) -> None:
    driver = chromium(tmp_path / "profile", "390,844")
    try:
        _open_map(driver, site.base)
        assert driver.execute_script("return document.documentElement.scrollWidth") <= 390
        the_map, alarms = _box(driver, "#map"), _box(driver, ".alarm-panel")
        assert the_map["width"] >= 360 and the_map["height"] >= 300
        assert alarms["width"] >= 360 and alarms["height"] >= 150 and alarms["top"] >= the_map["bottom"]
        driver.save_screenshot(str(SCREENSHOTS / "phone.png"))
    finally:
        driver.quit()


def _png() -> bytes:
    """A 256x256 grey PNG tile."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    raw = b"".join(b"\x00" + b"\x30" * 256 for _ in range(256))
    header = struct.pack(">IIBBBBB", 256, 256, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


@pytest.fixture
def tile_server() -> Iterator[tuple[str, list[str]]]:
    """A local tile server answering every path with one PNG; the paths asked for are recorded."""
    asked: list[str] = []
    tile = _png()

    class Tiles(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            asked.append(self.path)
            self.send_response(200)
            self.send_header("Content-Type", "image/png")
            self.send_header("Content-Length", str(len(tile)))
            self.end_headers()
            self.wfile.write(tile)

        def log_message(self, *_args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Tiles)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}", asked
    finally:
        server.shutdown()
        server.server_close()


def test_a_tile_url_puts_tiles_under_the_map(tmp_path: Path, tile_server: tuple[str, list[str]]) -> None:
    url, asked = tile_server
    with demo_site(tmp_path, tile_url=f"{url}/{{z}}/{{x}}/{{y}}.png") as s:
        driver = chromium(tmp_path / "profile")
        try:
            _open_map(driver, s.base, alarms=0)
            images = driver.execute_script(
                "return document.querySelector('#map .js-plotly-plot').layout.images || []"
            )
            assert images and all(i["source"].startswith(url) and i["layer"] == "below" for i in images)
            WebDriverWait(driver, 10, poll_frequency=0.2).until(lambda d: len(asked) >= len(images))
            zoom = {p.split("/")[1] for p in asked}
            assert len(zoom) == 1 and all(p.endswith(".png") and p.count("/") == 3 for p in asked)
        finally:
            driver.quit()
