"""The dashboard in a real headless Chromium, served with the API on one port over real parts."""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.support.ui import WebDriverWait

from accounts.roles import Role
from api.server import create_server_app
from tests.api.support import Parts, batch_of, make_parts, serve
from tests.dashboard.support import PASSWORD, login
from tests.fixtures.mosquitto import free_port

pytestmark = pytest.mark.browser

LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1"}
CHROMIUM_FLAGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--window-size=1500,1300",
    "--lang=zh-CN",
)


def _find(*names: str) -> str | None:
    return next((path for name in names if (path := shutil.which(name))), None)


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[webdriver.Chrome]:
    binary = _find("chromium", "chromium-browser", "google-chrome")
    driver_path = _find("chromedriver")
    if binary is None or driver_path is None:
        missing = " and ".join(
            n for n, p in (("chromium", binary), ("chromedriver", driver_path)) if p is None
        )
        pytest.fail(
            f"{missing} not found on PATH: the dashboard tests drive a real headless Chromium. "
            "`make test` installs them (run it as root), or run "
            "`sudo apt-get install -y chromium chromium-driver`",
            pytrace=False,
        )
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tmp_path / 'chromium-profile'}")
    options.set_capability("goog:loggingPrefs", {"performance": "ALL"})
    # An explicit driver path: Selenium Manager would otherwise try to download one.
    driver = webdriver.Chrome(options=options, service=Service(executable_path=driver_path))
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture
def site(tmp_path: Path) -> Iterator[tuple[str, Parts]]:
    parts = make_parts(tmp_path)
    parts.accounts.ensure_user("duty", PASSWORD, Role.OPERATOR)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with serve(create_server_app(parts.ctx, dashboard=True, api_base_url=base), port):
        yield base, parts
    parts.close()


def _texts(driver: webdriver.Chrome, css: str) -> list[str]:
    """innerText of every element matching `css`, read in one script: the page re-renders every 2 s."""
    texts: list[str] = driver.execute_script(
        "return Array.from(document.querySelectorAll(arguments[0]), e => e.innerText.trim())", css
    )
    return texts


def _text(driver: webdriver.Chrome, css: str) -> str:
    found = _texts(driver, css)
    assert found, f"nothing on the page matches {css}"
    return found[0]


def _value(driver: webdriver.Chrome, device: str, metric: str) -> str | None:
    found = _texts(driver, f'tr[data-device="{device}"] [data-metric="{metric}"] .metric-value')
    return found[0] if found else None


def _requested_hosts(driver: webdriver.Chrome) -> set[str]:
    """Hosts of every request the page made, from Chromium's performance (DevTools) log."""
    hosts: set[str] = set()
    for entry in driver.get_log("performance"):  # type: ignore[no-untyped-call]  # untyped in selenium
        message = json.loads(entry["message"])["message"]
        if message["method"] == "Network.requestWillBeSent":
            url = urlsplit(message["params"]["request"]["url"])
            if url.scheme in ("http", "https", "ws", "wss"):
                hosts.add(url.hostname or "")
    return hosts


def test_dashboard_shows_live_devices_from_the_api(
    browser: webdriver.Chrome, site: tuple[str, Parts], tmp_path: Path
) -> None:
    base, parts = site
    login(browser, base, "duty")
    browser.get(f"{base}/devices")
    wait = WebDriverWait(browser, 15, poll_frequency=0.1)
    wait.until(lambda d: _texts(d, 'tr[data-device="lj-co-01"]'))

    # Sites and buildings with their Chinese names as written in the twin.
    assert _texts(browser, "section[data-site] h2") == [
        "澜景社区",
        "观澜工地",
    ]
    assert "澜景花园1栋" in _text(browser, 'section[data-building="lj-b01"] h3')
    row = 'tr[data-device="lj-co-01"]'
    assert "B1车库一氧化碳探测器01" in _text(browser, row)
    assert _value(browser, "lj-co-01", "co") == "12.5"
    assert _text(browser, f'{row} [data-metric="co"] .metric-unit') == "ppm"
    assert _text(browser, f"{row} .badge") == "online"
    assert _text(browser, 'tr[data-device="lj-co-02"] .badge') == "never seen"
    assert _text(browser, f"{row} td.age").endswith("s ago")

    # The status strip.
    assert "connected" in _text(browser, "#status-mqtt")
    assert _text(browser, "#status-dead-letters").endswith("3")
    assert _text(browser, "#status-unregistered").endswith("1")
    assert _text(browser, "#status-history").endswith("duckdb · down · spool 3.0 MiB")
    assert "spooled" in _text(browser, '[data-alarm="history_store_down"]')
    browser.save_screenshot(str(tmp_path / "dashboard.png"))

    # A new reading reaches the page by the 2 s refresh, without a reload.
    now = int(time.time() * 1000)
    parts.live.apply(batch_of(parts.twin, [("lj-co-01", "co", 48.0, now), ("lj-co-02", "co", 3.0, now)]))
    WebDriverWait(browser, 6, poll_frequency=0.1).until(lambda d: _value(d, "lj-co-01", "co") == "48")
    assert _value(browser, "lj-co-02", "co") == "3"
    assert _text(browser, 'tr[data-device="lj-co-02"] .badge') == "online"
    assert _text(browser, '[data-count="b:lj-b01"]') == "2 / 3 online"
    assert _text(browser, '[data-count="s:lj"]') == "4 / 5 devices online"

    # Nothing was fetched from anywhere but this server: the page works on an isolated network.
    hosts = _requested_hosts(browser)
    assert hosts and hosts <= LOCAL_HOSTS, hosts
    refs: list[str] = browser.execute_script(
        "return Array.from(document.querySelectorAll('script[src], link[href]'), e => e.src || e.href)"
    )
    assert refs and all(urlsplit(r).hostname in LOCAL_HOSTS for r in refs), refs
