"""Logging in to the dashboard in a real headless Chromium: each person's map holds only what they may see."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from selenium import webdriver
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from accounts.roles import Role
from dashboard.login import COOKIE
from tests.api.support import open_accounts
from tests.dashboard.support import SCREENSHOTS, DemoSite, chromium, demo_site, login

pytestmark = pytest.mark.browser

SITE = "gl-lj"  # 澜景社区: the manager's site
MANAGER, MANAGER_PASSWORD = "lj-manager", "lanjing-manager-2026"


@pytest.fixture
def site(tmp_path: Path) -> Iterator[DemoSite]:
    with demo_site(tmp_path) as s:
        # Another connection to the site's account database: the API reads users from it per request.
        accounts = open_accounts(s.twin, f"sqlite:///{tmp_path / 'accounts.db'}")
        accounts.ensure_user(MANAGER, MANAGER_PASSWORD, Role.FACILITY_MANAGER, [SITE])
        accounts.store.close()
        yield s


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[webdriver.Chrome]:
    driver = chromium(tmp_path / "profile")
    try:
        yield driver
    finally:
        driver.quit()


def _wait(driver: webdriver.Chrome, timeout: float, what: Any) -> Any:
    return WebDriverWait(driver, timeout, poll_frequency=0.1).until(what)


def _map_buildings(driver: webdriver.Chrome) -> set[str]:
    """Ids of the buildings the map draws, from Plotly's own traces in the page."""
    ids: list[str] = driver.execute_script(
        "const gd = document.querySelector('#map .js-plotly-plot');"
        "if (!gd || !gd.data) return [];"
        "return gd.data.flatMap(t => (t.customdata || []))"
        "  .filter(c => Array.isArray(c) && c[0] === 'building').map(c => c[1]);"
    )
    return set(ids)


def _log_in_as(driver: webdriver.Chrome, base: str, username: str, password: str) -> None:
    driver.get(f"{base}/")
    _wait(driver, 20, lambda d: d.find_elements(By.ID, "login-user"))  # no view without a login
    driver.find_element(By.ID, "login-user").send_keys(username)
    driver.find_element(By.ID, "login-password").send_keys(password)
    driver.find_element(By.ID, "login-submit").click()
    _wait(driver, 20, lambda d: any(c["name"] == COOKIE for c in d.get_cookies()))


def test_a_facility_manager_sees_only_their_buildings_on_the_map(
    site: DemoSite, browser: webdriver.Chrome
) -> None:
    mine = {b for b, s in site.twin.site_of_building.items() if s == SITE}
    assert mine and len(mine) < len(site.twin.buildings)
    _log_in_as(browser, site.base, MANAGER, MANAGER_PASSWORD)
    _wait(browser, 20, _map_buildings)
    assert _map_buildings(browser) == mine
    cookie = next(c for c in browser.get_cookies() if c["name"] == COOKIE)
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    browser.save_screenshot(str(SCREENSHOTS / "login-facility-manager-map.png"))


def test_wrong_password_stays_on_the_login_page_with_the_reason(
    site: DemoSite, browser: webdriver.Chrome
) -> None:
    browser.get(f"{site.base}/")
    _wait(browser, 20, lambda d: d.find_elements(By.ID, "login-user"))
    browser.find_element(By.ID, "login-user").send_keys(MANAGER)
    browser.find_element(By.ID, "login-password").send_keys("not-the-password")
    browser.find_element(By.ID, "login-submit").click()
    _wait(browser, 20, lambda d: "password" in d.find_element(By.ID, "login-error").text)
    assert not any(c["name"] == COOKIE for c in browser.get_cookies())
    assert not browser.find_elements(By.CSS_SELECTOR, "#map .js-plotly-plot")


def test_logout_ends_the_session_and_returns_to_the_login_page(
    site: DemoSite, browser: webdriver.Chrome
) -> None:
    login(browser, site.base)
    browser.get(f"{site.base}/")
    _wait(browser, 20, _map_buildings)
    assert len(_map_buildings(browser)) == len(site.twin.buildings)  # the operator sees every building
    browser.find_element(By.ID, "logout").click()
    _wait(browser, 20, lambda d: d.find_elements(By.ID, "login-user"))
    assert not any(c["name"] == COOKIE for c in browser.get_cookies())
    browser.get(f"{site.base}/")
    _wait(browser, 20, lambda d: d.find_elements(By.ID, "login-user"))
