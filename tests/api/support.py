"""Real parts for API and dashboard tests: a small twin, live state, DuckDB history, a uvicorn server."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import uvicorn
from fastapi import FastAPI

from accounts.models import ApiKeyIn
from accounts.roles import Role
from accounts.service import AccountService
from accounts.store import AccountStore
from api.context import ApiContext, IngestStats, SystemStatus
from core.contract import DeadLetter
from core.records import ReadingBatch, SystemAlarm
from core.settings import DEV_PASSWORDS, AuthSettings
from ingest.registry import DeadLetterLog, UnregisteredDevices
from store.duckdb_store import DuckDBHistory
from store.writer import WriterStatus
from tests.fixtures.mosquitto import free_port, wait_port
from twin.loader import parse_twin
from twin.state import LiveState
from twin.twin import Twin

TWIN_YAML = """\
version: 1
name: 测试街道
sites:
  - id: lj
    name: 澜景社区
    kind: community
    street: 观澜街道
    location: {lat: 22.7215, lon: 114.0562}
    buildings:
      - id: lj-b01
        name: 澜景花园1栋
        location: {lat: 22.7209, lon: 114.0555}
        floors_above: 30
        floors_below: 1
        floors:
          - level: -1
            name: B1
            spaces:
              - id: lj-b01-garage
                name: 1栋B1地下车库
                kind: basement_garage
                devices:
                  - {id: lj-co-01, kind: co_sensor, name: B1车库一氧化碳探测器01}
                  - {id: lj-co-02, kind: co_sensor, name: B1车库一氧化碳探测器02}
                  - {id: lj-fan-01, kind: fan, name: B1车库排风机01}
      - id: lj-b02
        name: 澜景花园2栋
        location: {lat: 22.7219, lon: 114.0567}
        floors:
          - level: 1
            name: 1F
            spaces:
              - id: lj-b02-kitchen
                name: 2栋1楼餐厅后厨
                kind: kitchen
                devices:
                  - {id: lj-lel-01, kind: lel_sensor, name: 后厨可燃气体探测器}
    spaces:
      - id: lj-septic-01
        name: 1号化粪池
        kind: septic_tank
        confined: true
        location: {lat: 22.7212, lon: 114.0559}
        devices:
          - {id: lj-gas-01, kind: multi_gas, name: 化粪池四合一气体探测器}
  - id: gs
    name: 观澜工地
    kind: construction_site
    location: {lat: 22.7300, lon: 114.0600}
    spaces:
      - id: gs-yard
        name: 施工场地
        kind: construction_site
        location: {lat: 22.7301, lon: 114.0601}
        devices:
          - {id: gs-cam-01, kind: camera, name: 工地摄像头01}
"""

T0 = 1_767_225_600_000  # 2026-01-01T00:00:00Z: history readings start here
MINUTE = 60_000


@dataclass
class Parts:
    """The real components behind an `ApiContext`, for a test to change while the API serves them."""

    twin: Twin
    live: LiveState
    history: DuckDBHistory
    unregistered: UnregisteredDevices
    dead_letters: DeadLetterLog
    ctx: ApiContext
    accounts: AccountService
    admin_key: str  # an administrator's API key

    @property
    def admin(self) -> dict[str, str]:
        """Headers that authenticate as an administrator."""
        return {"X-API-Key": self.admin_key}

    def key_for(self, role: Role, **scope: object) -> dict[str, str]:
        """Headers of a new API key with this role and scope (sites, buildings, tenant)."""
        made = self.accounts.create_key(
            ApiKeyIn.model_validate({"name": f"test {role.value}", "role": role, **scope}), "test"
        )
        return {"X-API-Key": made.key}

    def close(self) -> None:
        self.history.close()
        self.accounts.store.close()


def batch_of(twin: Twin, readings: list[tuple[str, str, float, int]]) -> ReadingBatch:
    """A ReadingBatch of (device_id, metric, value, ts) tagged from the twin, as ingest builds them."""
    batch = ReadingBatch()
    for dev_id, metric, value, ts in readings:
        p = twin.devices[dev_id]
        batch.append(
            ts,
            ts + 50,
            dev_id,
            metric,
            value,
            p.metrics[metric].unit,
            p.site,
            p.building,
            p.space,
            p.kind.value,
        )
    return batch


def make_parts(tmp: Path, accounts_url: str | None = None) -> Parts:
    """A small twin with live values, one hour of CO history per minute, ingest registries and accounts.

    Accounts live in a SQLite file in `tmp` unless `accounts_url` names another database.
    """
    twin = Twin(parse_twin(TWIN_YAML, "test-twin.yaml"))
    live = LiveState(twin, offline_after_ms=120_000, clock_skew_warn_ms=300_000)
    history = DuckDBHistory(tmp / "history.duckdb")
    history.open()
    # lj-co-01: co = minute index (0..59) at T0 + i min, so 10-minute buckets have known means.
    history.write(batch_of(twin, [("lj-co-01", "co", float(i), T0 + i * MINUTE) for i in range(60)]))
    now = int(time.time() * 1000)
    live.apply(
        batch_of(
            twin,
            [
                ("lj-co-01", "co", 12.5, now),
                ("lj-co-01", "battery", 87.0, now),
                ("lj-gas-01", "h2s", 3.2, now),
                ("lj-gas-01", "o2", 20.9, now),
                ("lj-lel-01", "lel", 0.0, now),
            ],
        )
    )
    unregistered = UnregisteredDevices()
    unregistered.record("ghost-07", "safetwin/v1/telemetry/ghost-07", b'{"metrics":{"co":1}}', now - 5000)
    dead_letters = DeadLetterLog()
    for i in range(3):
        dead_letters.add(
            "invalid",
            DeadLetter(
                topic="safetwin/v1/telemetry/lj-co-02",
                device_id="lj-co-02",
                field="metrics.co",
                reason=f"Input should be a valid number ({i})",
                received_ts=now - 1000 + i,
                payload='{"metrics":{"co":"x"}}',
            ),
        )

    def status() -> SystemStatus:
        return SystemStatus(
            mqtt_connected=True,
            ingest=IngestStats(
                messages=42,
                accepted_readings=65,
                dead_letters=dead_letters.total,
                dead_letters_by_category=dict(dead_letters.by_category),
                unregistered_devices=len(unregistered.list()),
            ),
            history=WriterStatus(
                backend=history.name,
                store_up=False,
                queued_points=0,
                spooled_batches=12,
                spooled_bytes=3 * 1024 * 1024,
                spool_full=False,
                written_points=60,
                dropped_points=0,
                rejected_points=0,
                last_error="duckdb: cannot open history.duckdb",
            ).model_dump(),
            alarms=[
                SystemAlarm(
                    key="history_store_down",
                    severity="warning",
                    message="history store unreachable; readings are spooled",
                    since_ts=now,
                )
            ],
            devices_total=len(twin.devices),
            devices_online=sum(1 for st in live.devices.values() if st.online),
        )

    accounts = open_accounts(twin, accounts_url or f"sqlite:///{tmp}/accounts.db")
    admin_key = accounts.create_key(ApiKeyIn(name="tests", role=Role.ADMINISTRATOR), "tests").key
    ctx = ApiContext(
        twin=twin,
        live=live,
        history=history,
        unregistered=unregistered,
        dead_letters=dead_letters,
        status=status,
        accounts=accounts,
    )
    return Parts(twin, live, history, unregistered, dead_letters, ctx, accounts, admin_key)


def open_accounts(twin: Twin, url: str) -> AccountService:
    """An account service on a migrated database, with a fast-failing login limit for tests."""
    store = AccountStore(url)
    store.open()
    return AccountService(store, twin, AuthSettings(login_max_failures=3, login_window_s=60))


def dev_login(base_url: str, username: str = "admin") -> dict[str, str]:
    """Log in to a SafeTwin in development mode as a demo account; its Authorization header."""
    deadline = time.monotonic() + 30
    while True:
        try:
            answer = httpx.post(
                f"{base_url}/api/v1/auth/login",
                json={"username": username, "password": DEV_PASSWORDS[username]},
                timeout=30,
                trust_env=False,
            )
            break
        except httpx.ConnectError:  # a process that just said it runs may still be opening its socket
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)
    answer.raise_for_status()
    return {"Authorization": f"Bearer {answer.json()['token']}"}


async def adev_login(base_url: str, username: str = "admin") -> dict[str, str]:
    """`dev_login` for tests whose SafeTwin runs on their own event loop."""
    async with httpx.AsyncClient(trust_env=False, timeout=30) as client:
        answer = await client.post(
            f"{base_url}/api/v1/auth/login",
            json={"username": username, "password": DEV_PASSWORDS[username]},
        )
    answer.raise_for_status()
    return {"Authorization": f"Bearer {answer.json()['token']}"}


@contextmanager
def serve(app: FastAPI, port: int | None = None) -> Iterator[str]:
    """Run `app` under uvicorn in a thread on localhost (a free port by default); yield its base URL."""
    port = port or free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            app, host="127.0.0.1", port=port, log_level="warning", lifespan="off", access_log=False
        )
    )
    thread = threading.Thread(target=server.run, name=f"uvicorn-{port}", daemon=True)
    thread.start()
    try:
        wait_port("127.0.0.1", port)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


class HeaderAuth(httpx.Auth):
    """httpx auth that adds fixed headers (an API key) to every request."""

    def __init__(self, headers: dict[str, str]) -> None:
        self.headers = headers

    def auth_flow(self, request: httpx.Request) -> Iterator[httpx.Request]:  # type: ignore[override]
        request.headers.update(self.headers)
        yield request
