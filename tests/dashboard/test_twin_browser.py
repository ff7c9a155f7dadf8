"""Actuator controls, floor plan, 3D building and work-order steps in a real headless Chromium."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from core.alarms import Severity
from dashboard.floorplan import ACTIVE_RING
from dashboard.mapfig import FILL
from tests.api.support import batch_of
from tests.dashboard.support import (
    SCREENSHOTS,
    DemoSite,
    api_headers,
    chromium,
    co_alarm,
    demo_site,
    fill_live,
    login,
)

pytestmark = pytest.mark.browser

BUILDING = "gl-lj-b01"  # 澜景花园1栋
CO = "gl-lj-b01-b1-co-01"
FAN = "gl-lj-b01-b1-fan-01"
SPEAKER = "gl-gdb-z01-spk-01"  # a construction site's work zone


@pytest.fixture
def site(tmp_path: Path) -> Iterator[DemoSite]:
    with demo_site(tmp_path) as s:
        fill_live(s)
        now = int(time.time() * 1000)
        s.live.set_actuator_state(FAN, {"on": False}, now)
        s.live.set_actuator_state("gl-lj-b01-b1-fan-02", {"on": True, "speed": 2}, now)
        s.live.set_actuator_state("gl-lj-b01-b1-valve-01", {"open": True}, now)
        yield s


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[webdriver.Chrome]:
    driver = chromium(tmp_path / "profile")
    try:
        yield driver
    finally:
        driver.quit()


def _wait(driver: webdriver.Chrome, timeout: float, what: Any) -> Any:
    return WebDriverWait(
        driver, timeout, poll_frequency=0.1, ignored_exceptions=[StaleElementReferenceException]
    ).until(what)


def _click(driver: webdriver.Chrome, css: str, timeout: float = 10) -> None:
    """Click what `css` finds once it is there; pages redraw every 2 s, so find it again if it went stale."""
    _wait(driver, timeout, lambda d: d.find_elements(By.CSS_SELECTOR, css))
    for _ in range(10):
        try:
            driver.find_element(By.CSS_SELECTOR, css).click()
            return
        except StaleElementReferenceException:
            time.sleep(0.05)
    driver.find_element(By.CSS_SELECTOR, css).click()


def _type(driver: webdriver.Chrome, css: str, text: str) -> None:
    """Type into the field `css` finds once the page has drawn it."""
    _wait(driver, 20, lambda d: d.find_elements(By.CSS_SELECTOR, css))
    driver.find_element(By.CSS_SELECTOR, css).send_keys(text)


def _text(driver: webdriver.Chrome, css: str) -> str:
    found = driver.find_elements(By.CSS_SELECTOR, css)
    return found[0].text if found else ""


def _commands(site: DemoSite, device: str) -> list[dict[str, Any]]:
    page = httpx.get(
        f"{site.base}/api/v1/commands",
        params={"device_id": device},
        headers=api_headers(site.base),
        timeout=5,
    ).json()
    items: list[dict[str, Any]] = page["items"]
    return items


def _graph(driver: webdriver.Chrome) -> dict[str, Any]:
    """The twin graph's traces by uid, as Plotly holds them in the page."""
    traces: dict[str, Any] = driver.execute_script(
        "const gd = document.querySelector('#twin-graph .js-plotly-plot');"
        "if (!gd || !gd.data) return {};"
        "return Object.fromEntries(gd.data.map(t => [t.uid, {type: t.type, ids: t.customdata || null,"
        " colour: (t.marker || {}).color || null, ring: ((t.marker || {}).line || {}).color || null,"
        " text: t.text || null}]));"
    )
    return traces


def _by_device(trace: dict[str, Any], key: str) -> dict[str, Any]:
    return {ident[0]: value for ident, value in zip(trace["ids"], trace[key], strict=True)}


def test_controls_post_commands_and_show_the_answer(site: DemoSite, browser: webdriver.Chrome) -> None:
    login(browser, site.base, "chief")  # the API's permission table lets administrators command devices
    browser.get(f"{site.base}/building/{BUILDING}")
    _type(browser, "#operator", "李值班")
    _click(browser, f'[data-control="{FAN}"]')
    _wait(browser, 10, lambda d: "已停止" in _text(d, "#ctl-panel.shown .ctl-state"))
    assert "B1车库排风机01" in _text(browser, "#ctl-title h3")
    assert not browser.find_elements(By.CSS_SELECTOR, f'[data-control="{CO}"]')  # sensors take no commands

    _click(browser, '#ctl-panel [data-op="fan-on"]')
    _wait(browser, 10, lambda d: _text(d, "#ctl-answer"))
    assert "指令已受理" in _text(browser, "#ctl-answer.ok"), _text(browser, "#ctl-answer")
    [cmd] = _commands(site, FAN)
    assert cmd["params"] == {"on": True, "speed": 2} and cmd["action"] == "set"
    assert cmd["operator"] in ("李值班", "chief") and cmd["reason"] == "指挥中心手动操作"
    assert cmd["state"] in _text(browser, "#ctl-answer")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    browser.save_screenshot(str(SCREENSHOTS / "drill-down-controls.png"))

    # An evacuation broadcast needs two independent sources of evidence: the interlock refuses it (409).
    browser.get(f"{site.base}/site/gl-gdb")
    _click(browser, f'[data-control="{SPEAKER}"]')
    _wait(browser, 10, lambda d: d.find_elements(By.CSS_SELECTOR, '#ctl-panel [data-op="speaker-play"]'))
    _click(browser, '#ctl-panel [data-op="speaker-play"]')
    _wait(browser, 10, lambda d: "联锁" in _text(d, "#ctl-answer.bad"))
    [refused] = _commands(site, SPEAKER)
    assert refused["state"] == "refused" and refused["params"]["preset"] == "evacuate"
    assert refused["detail"][:40] in _text(browser, "#ctl-answer")


def test_floor_plan_and_3d_view_show_the_building_as_its_twin(
    site: DemoSite, browser: webdriver.Chrome
) -> None:
    now = int(time.time() * 1000)
    site.live.set_actuator_state(FAN, {"on": True, "speed": 3}, now)
    site.live.apply(batch_of(site.twin, [(CO, "co", 420.0, now)]))
    site.alarms.on_signal(co_alarm(site.twin, CO, 420.0, Severity.EMERGENCY))
    login(browser, site.base)
    browser.get(f"{site.base}/building/{BUILDING}")
    _click(browser, "a.view-link.plan")
    _wait(browser, 10, lambda d: _graph(d).get("devices", {}).get("ids"))
    assert browser.current_url.endswith(f"/building/{BUILDING}/floor/-1")
    on_floor = {d for d, p in site.twin.devices.items() if p.building == BUILDING and p.floor_level == -1}
    devices = _graph(browser)["devices"]
    assert {i[0] for i in devices["ids"]} == on_floor
    assert _by_device(devices, "colour")[CO] == FILL["emergency"]
    assert _by_device(devices, "text")[CO] == "420 ppm"
    assert _by_device(devices, "ring")[FAN] == ACTIVE_RING and _by_device(devices, "text")[FAN] == "运行中"
    here = browser.execute_script("return document.querySelector('a.floor-link.here').className")
    assert "emergency" in here  # the floor's link is coloured by its worst alarm
    browser.save_screenshot(str(SCREENSHOTS / "floor-plan.png"))

    # A click on the fan on the plan opens its controls.
    index = [i[0] for i in devices["ids"]].index(FAN)
    point = browser.find_elements(By.CSS_SELECTOR, "#twin-graph .scatterlayer .trace .point")[index]
    ActionChains(browser).move_to_element(point).click().perform()
    _wait(browser, 10, lambda d: "B1车库排风机01" in _text(d, "#ctl-panel.shown h3"))

    _click(browser, "a.floor-link.view3d")
    _wait(browser, 15, lambda d: _graph(d).get("devices", {}).get("type") == "scatter3d")
    assert browser.current_url.endswith(f"/building/{BUILDING}/3d")
    graph = _graph(browser)
    in_building = {d for d, p in site.twin.devices.items() if p.building == BUILDING}
    assert {i[0] for i in graph["devices"]["ids"]} == in_building
    assert _by_device(graph["devices"], "colour")[CO] == FILL["emergency"]
    assert {"slabs", "spaces-emergency", "storeys"} <= set(graph)
    assert browser.find_elements(By.CSS_SELECTOR, "#twin-graph .gl-container canvas")  # drawn by WebGL
    time.sleep(1.0)  # the WebGL scene settles after its first frame
    browser.save_screenshot(str(SCREENSHOTS / "twin-3d.png"))


def _order_state(site: DemoSite, order_id: str) -> str:
    return str(site.alarms.get_work_order(order_id).state)


def test_work_order_steps_move_the_order_through_its_flow(site: DemoSite, browser: webdriver.Chrome) -> None:
    alarm = site.alarms.on_signal(co_alarm(site.twin, CO, 420.0, Severity.EMERGENCY))
    assert alarm is not None and alarm.work_order_id is not None
    order = alarm.work_order_id
    login(browser, site.base)
    browser.get(f"{site.base}/orders")
    _type(browser, "#operator", "李值班")
    _type(browser, "#order-assignee", "王工")
    card = f'[data-order="{order}"]'
    _click(browser, f'{card} [data-step="sign"]')
    _wait(browser, 10, lambda d: _order_state(site, order) == "signed")
    _click(browser, f'{card} [data-step="assign"]')
    _wait(browser, 10, lambda d: _order_state(site, order) == "assigned")
    assert site.alarms.get_work_order(order).assignee == "王工"

    _click(browser, f'{card} [data-step="handle"]')  # no note yet: refused in the page, order unchanged
    _wait(browser, 10, lambda d: "处置说明" in _text(d, "#order-msg.bad"))
    assert _order_state(site, order) == "assigned"
    browser.find_element(By.ID, "order-note").send_keys("已开启排风机并复测，CO 恢复正常")
    _click(browser, f'{card} [data-step="handle"]')
    _wait(browser, 10, lambda d: _order_state(site, order) == "handled")
    assert site.alarms.get_work_order(order).note == "已开启排风机并复测，CO 恢复正常"
    _click(browser, f'{card} [data-step="verify"]')
    _wait(browser, 10, lambda d: _order_state(site, order) == "verified")
    _click(browser, f'{card} [data-step="close"]')
    _wait(browser, 10, lambda d: _order_state(site, order) == "closed")
    _wait(browser, 10, lambda d: "已办结" in _text(d, "#order-msg.ok"))
    steps = [s.action for s in site.alarms.work_order_steps(order)]
    assert steps == ["created", "signed", "assigned", "handled", "verified", "closed"]


def test_a_viewer_sees_no_controls(site: DemoSite, browser: webdriver.Chrome) -> None:
    alarm = site.alarms.on_signal(co_alarm(site.twin, CO, 420.0, Severity.EMERGENCY))
    assert alarm is not None
    login(browser, site.base, "watch")
    browser.get(f"{site.base}/building/{BUILDING}")
    _wait(browser, 20, lambda d: _text(d, f'[data-device="{FAN}"]'))
    assert "已停止" in _text(browser, f'[data-device="{FAN}"]')  # the state is shown, the button is not
    assert not browser.find_elements(By.CSS_SELECTOR, "[data-control]")
    browser.get(f"{site.base}/orders")
    _wait(browser, 20, lambda d: d.find_elements(By.CSS_SELECTOR, f'[data-order="{alarm.work_order_id}"]'))
    assert not browser.find_elements(By.CSS_SELECTOR, "[data-step]")
    browser.get(f"{site.base}/")
    _wait(browser, 20, lambda d: d.find_elements(By.CSS_SELECTOR, f'tr[data-alarm="{alarm.id}"]'))
    assert not browser.find_elements(By.CSS_SELECTOR, "tr[data-alarm] button")
