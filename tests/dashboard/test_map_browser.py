"""The one-map view in a real headless Chromium at 1920x1080, over the demo twin and a live alarm manager."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from core.alarms import Severity
from dashboard.mapfig import FILL
from tests.dashboard.support import SCREENSHOTS, DemoSite, chromium, co_alarm, demo_site, login

pytestmark = pytest.mark.browser

LIVE_BUDGET_S = 4.0  # refresh every 1.5 s, plus the API reads and the browser's drawing
DEVICE = "gl-lj-b01-b1-co-01"  # B1 garage of 澜景花园1栋
BUILDING = "gl-lj-b01"


@pytest.fixture
def site(tmp_path: Path) -> Iterator[DemoSite]:
    with demo_site(tmp_path) as s:
        yield s


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[webdriver.Chrome]:
    driver = chromium(tmp_path / "profile")
    try:
        yield driver
    finally:
        driver.quit()


def _map_data(driver: webdriver.Chrome) -> dict[str, Any]:
    """The map's traces by uid, as Plotly holds them in the page."""
    traces: dict[str, Any] = driver.execute_script(
        "const gd = document.querySelector('#map .js-plotly-plot');"
        "if (!gd || !gd.data) return {};"
        "return Object.fromEntries(gd.data.map(t => [t.uid, {customdata: t.customdata || null,"
        " color: (t.marker || {}).color || null, n: (t.x || []).length}]));"
    )
    return traces


def _rows(driver: webdriver.Chrome) -> dict[str, str]:
    rows: dict[str, str] = driver.execute_script(
        "return Object.fromEntries(Array.from(document.querySelectorAll('tr[data-alarm]'),"
        " r => [r.dataset.alarm, r.className]))"
    )
    return rows


def _wait(driver: webdriver.Chrome, timeout: float, what: Any) -> Any:
    return WebDriverWait(driver, timeout, poll_frequency=0.1).until(what)


def _click(driver: webdriver.Chrome, css: str) -> None:
    """Click what `css` finds; the alarm rows are redrawn every refresh, so find it again if it went stale."""
    for _ in range(5):
        try:
            driver.find_element(By.CSS_SELECTOR, css).click()
            return
        except StaleElementReferenceException:
            time.sleep(0.05)
    driver.find_element(By.CSS_SELECTOR, css).click()


def _settled(driver: webdriver.Chrome, css: str) -> Any:
    """The element once it has stopped moving (the map resizes when the emergency banner goes)."""
    last: dict[str, float] = {}

    def still(d: webdriver.Chrome) -> Any:
        nonlocal last
        found = d.find_elements(By.CSS_SELECTOR, css)
        if not found:
            return None
        rect = found[0].rect
        same = rect == last
        last = rect
        return found[0] if same else None

    return WebDriverWait(
        driver, 5, poll_frequency=0.4, ignored_exceptions=[StaleElementReferenceException]
    ).until(still)


def _badge_colour(driver: webdriver.Chrome, building: str) -> str | None:
    badges = _map_data(driver).get("badges", {})
    for data, colour in zip(badges.get("customdata") or [], badges.get("color") or [], strict=False):
        if data == ["building", building]:
            return str(colour)
    return None


def test_map_alarm_list_acknowledge_and_drill_down(site: DemoSite, browser: webdriver.Chrome) -> None:
    login(browser, site.base)
    browser.get(f"{site.base}/")
    _wait(browser, 20, lambda d: _map_data(d).get("targets"))
    # Every building of the demo twin is drawn, from its footprint, and is a click target.
    traces = _map_data(browser)
    drawn = {tuple(c) for c in traces["targets"]["customdata"]}
    assert drawn == {("building", b) for b in site.twin.buildings}
    assert "building-normal" in traces and "building-emergency" not in traces
    assert (
        browser.execute_script("return document.querySelectorAll('#map .scatterlayer .trace path').length")
        > 0
    )
    assert "一张图" in browser.find_element(By.CSS_SELECTOR, "#nav").text  # Chinese by default

    # A high CO reading's alarm turns its building red and joins the list within the live budget.
    raised_at = time.monotonic()
    alarm = site.alarms.on_signal(co_alarm(site.twin, DEVICE, 420.0, Severity.EMERGENCY))
    assert alarm is not None
    _wait(browser, LIVE_BUDGET_S, lambda d: alarm.id in _rows(d) and _badge_colour(d, BUILDING))
    seen_s = time.monotonic() - raised_at
    assert _badge_colour(browser, BUILDING) == FILL["emergency"]
    assert "building-emergency" in _map_data(browser)
    assert "sev-emergency" in _rows(browser)[alarm.id] and "unacked" in _rows(browser)[alarm.id]
    row = browser.find_element(By.CSS_SELECTOR, f'tr[data-alarm="{alarm.id}"]')
    assert "澜景花园1栋" in row.text and "一氧化碳超标" in row.text
    assert alarm.id in browser.execute_script("return document.body.dataset.emergencies")  # flashing
    assert browser.find_element(By.ID, "kpi-emergency").text.startswith("1")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    browser.save_screenshot(str(SCREENSHOTS / "map-big-screen.png"))

    # Acknowledge and assign from the list: the API records both, with the operator's name.
    browser.find_element(By.ID, "operator").send_keys("李值班")
    browser.find_element(By.ID, "assignee").send_keys("王工")
    _click(browser, f'tr[data-alarm="{alarm.id}"] button.ack')
    # Recorded as the operator named in the top bar, or as the logged-in user where the API names it.
    _wait(browser, 5, lambda d: site.alarms.get_alarm(alarm.id).acknowledged_by in ("李值班", "duty"))
    _click(browser, f'tr[data-alarm="{alarm.id}"] button.assign')
    _wait(browser, 5, lambda d: site.alarms.get_alarm(alarm.id).assignee == "王工")
    _wait(browser, LIVE_BUDGET_S, lambda d: "unacked" not in _rows(d).get(alarm.id, "unacked"))
    assert not browser.execute_script("return document.body.dataset.emergencies")  # no longer flashing

    # Clicking the building on the map opens its floors, spaces and devices with live values.
    badge = _settled(browser, "#map .trace.tracebadges .point")
    ActionChains(browser).move_to_element(badge).click().perform()
    _wait(
        browser,
        10,
        lambda d: d.find_elements(By.CSS_SELECTOR, f'[data-device="{DEVICE}"] [data-metric="co"]'),
    )
    assert browser.current_url.endswith(f"/building/{BUILDING}")
    line = browser.find_element(By.CSS_SELECTOR, f'[data-device="{DEVICE}"]').text
    assert "6" in line and "ppm" in line and "200" in line  # value, unit, threshold from the alarm
    assert browser.find_element(By.CSS_SELECTOR, '[data-floor="-1"] [data-level="emergency"]')
    browser.save_screenshot(str(SCREENSHOTS / "drill-down.png"))
    print(f"alarm on screen {seen_s:.2f} s after it was raised")


def test_language_switch_to_english(site: DemoSite, browser: webdriver.Chrome) -> None:
    login(browser, site.base)
    browser.get(f"{site.base}/")
    _wait(browser, 20, lambda d: "一张图" in d.find_element(By.ID, "nav").text)
    browser.find_element(By.ID, "lang-btn").click()
    _wait(browser, 5, lambda d: "Map" in d.find_element(By.ID, "nav").text)
    _wait(browser, 5, lambda d: "Live alarms" in d.find_element(By.CSS_SELECTOR, ".alarm-panel h2").text)
    browser.get(f"{site.base}/orders")  # the choice is kept in the browser
    _wait(browser, 10, lambda d: "Work-order board" in d.find_element(By.ID, "page").text)
