"""Browser-test helpers: a headless Chromium, and the API + dashboard over the real demo twin with alarms."""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from accounts.roles import Role
from actuators.publisher import CommandPublisher
from actuators.service import ActuatorService
from actuators.settings import ActuatorSettings
from alarms.manager import AlarmManager
from api.context import ApiContext, IngestStats, SystemStatus
from api.server import create_server_app
from core.alarms import AlarmSignal, Severity, SignalKind, SourceKind
from core.contract import Topics
from core.settings import DatabaseSettings, MqttSettings
from dashboard.login import COOKIE
from ingest.registry import DeadLetterLog, UnregisteredDevices
from store.duckdb_store import DuckDBHistory
from store.sql.commands import SqlCommandStore
from tests.api.support import batch_of, open_accounts, serve
from tests.fixtures.mosquitto import free_port
from twin.loader import load_twin_file
from twin.state import LiveState
from twin.twin import Twin

ROOT = Path(__file__).resolve().parents[2]
DEMO_TWIN = ROOT / "data" / "demo-twin.yaml"
SCREENSHOTS = ROOT / "var" / "screenshots"
BASE_FLAGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--lang=zh-CN",
    "--autoplay-policy=no-user-gesture-required",
)


def _find(*names: str) -> str | None:
    return next((path for name in names if (path := shutil.which(name))), None)


def chromium(profile: Path, size: str = "1920,1080") -> webdriver.Chrome:
    """A headless Chromium at `size`; fails the test saying what to install when it is missing."""
    binary = _find("chromium", "chromium-browser", "google-chrome")
    driver_path = _find("chromedriver")
    if binary is None or driver_path is None:
        pytest.fail(
            "chromium and chromedriver are needed on PATH: "
            "`sudo apt-get install -y chromium chromium-driver`",
            pytrace=False,
        )
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for flag in (*BASE_FLAGS, f"--window-size={size}", f"--user-data-dir={profile}"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"performance": "ALL"})
    # An explicit driver path: Selenium Manager would otherwise try to download one.
    driver = webdriver.Chrome(options=options, service=Service(executable_path=driver_path))
    width, height = (int(v) for v in size.split(","))
    # The page itself (not the window) gets exactly this size: a big screen's 1920x1080.
    driver.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": width < 800},
    )
    return driver


# People who log in to the dashboard in the browser tests: who may do everything, act, only look.
USERS = {"chief": Role.ADMINISTRATOR, "duty": Role.OPERATOR, "watch": Role.VIEWER}
PASSWORD = "duty-room-2026"


def login(driver: webdriver.Chrome, base: str, username: str = "duty") -> None:
    """Log in through the dashboard's login page; the browser keeps the token in its cookie."""
    driver.get(f"{base}/login")
    wait = WebDriverWait(driver, 20, poll_frequency=0.1)
    wait.until(lambda d: d.find_elements(By.ID, "login-user"))
    driver.find_element(By.ID, "login-user").send_keys(username)
    driver.find_element(By.ID, "login-password").send_keys(PASSWORD)
    driver.find_element(By.ID, "login-submit").click()
    wait.until(lambda d: any(c["name"] == COOKIE for c in d.get_cookies()))


def api_headers(base: str, username: str = "chief") -> dict[str, str]:
    """The Authorization header of a user logged in at the API, for tests that read it directly."""
    body = {"username": username, "password": PASSWORD}
    answer = httpx.post(f"{base}/api/v1/auth/login", json=body, timeout=10, trust_env=False)
    answer.raise_for_status()
    return {"Authorization": f"Bearer {answer.json()['token']}"}


@dataclass
class DemoSite:
    """The API and dashboard served over the demo twin, with alarm and actuator services a test can drive."""

    base: str
    twin: Twin
    live: LiveState
    alarms: AlarmManager
    actuators: ActuatorService


def _status(twin: Twin, live: LiveState) -> SystemStatus:
    return SystemStatus(
        mqtt_connected=True,
        ingest=IngestStats(
            messages=0,
            accepted_readings=0,
            dead_letters=0,
            dead_letters_by_category={},
            unregistered_devices=0,
        ),
        history={"backend": "duckdb", "store_up": True},
        alarms=[],
        devices_total=len(twin.devices),
        devices_online=sum(1 for st in live.devices.values() if st.online),
    )


@contextmanager
def demo_site(tmp: Path, twin_path: Path = DEMO_TWIN, tile_url: str | None = None) -> Iterator[DemoSite]:
    """Serve API + dashboard over the twin file; every CO sensor has a fresh normal reading."""
    twin = Twin(load_twin_file(twin_path))
    live = LiveState(twin, offline_after_ms=120_000, clock_skew_warn_ms=300_000)
    now = int(time.time() * 1000)
    co = [(d, "co", 6.0, now) for d, p in twin.devices.items() if "co" in p.metrics]
    live.apply(batch_of(twin, co))
    history = DuckDBHistory(tmp / "history.duckdb")
    history.open()
    manager = AlarmManager(twin)
    store = SqlCommandStore(DatabaseSettings(url=f"sqlite:///{tmp / 'ops.db'}"))
    publisher = CommandPublisher(MqttSettings(), Topics())  # not run: commands wait in its outbox
    actuators = ActuatorService(twin, ActuatorSettings(), publisher, store, rule_of=lambda _id: None)
    actuators.open()
    accounts = open_accounts(twin, f"sqlite:///{tmp / 'accounts.db'}")
    for username, role in USERS.items():
        accounts.ensure_user(username, PASSWORD, role)
    ctx = ApiContext(
        twin=twin,
        live=live,
        history=history,
        unregistered=UnregisteredDevices(),
        dead_letters=DeadLetterLog(),
        status=lambda: _status(twin, live),
        alarms=manager,
        actuators=actuators,
        accounts=accounts,
    )
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    try:
        app = create_server_app(ctx, dashboard=True, api_base_url=base, tile_url=tile_url)
        with serve(app, port):
            yield DemoSite(base, twin, live, manager, actuators)
    finally:
        actuators.close()
        accounts.store.close()
        history.close()


def co_alarm(twin: Twin, device_id: str, ppm: float, severity: Severity) -> AlarmSignal:
    """What the CO threshold rule says about a device whose reading crossed a level."""
    place = twin.devices[device_id]
    return AlarmSignal(
        rule_id="co-garage",
        rule_version=1,
        rule_name="一氧化碳超标",
        category="gas",
        kind=SignalKind.FIRING,
        severity=severity,
        source_kind=SourceKind.DEVICE,
        source_id=device_id,
        site=place.site,
        building=place.building,
        space=place.space,
        ts=int(time.time() * 1000),
        message=f"CO {ppm} ppm at {device_id}, above the emergency level 200 ppm",
        evidence={"metric": "co", "value": ppm, "levels": [{"severity": "emergency", "trigger": 200}]},
    )


# A normal reading per metric, for screenshots that show every device with a live value.
NORMAL = {"co": 6.0, "lel": 2.0, "ch4": 1.0, "h2s": 0.2, "o2": 20.9, "temperature": 24.5, "humidity": 61.0}
NORMAL |= {"battery": 88.0, "rssi": -71.0, "current": 3.1, "pressed": 0.0}


def fill_live(site: DemoSite) -> None:
    """Every device of the twin reports a normal value of each of its metrics now."""
    now = int(time.time() * 1000)
    readings = [(d, m, NORMAL.get(m, 1.0), now) for d, p in site.twin.devices.items() for m in p.metrics]
    site.live.apply(batch_of(site.twin, readings))
