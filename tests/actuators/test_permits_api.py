"""Permits through the HTTP API (uvicorn on a free port, httpx as a client): refused, granted, logged."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from accounts.models import ApiKeyIn
from accounts.roles import Role
from actuators.permit_settings import PermitSettings
from actuators.permits import PermitManager
from actuators.ventilation import FanStates
from api.app import create_api
from api.context import ApiContext, IngestStats, SystemStatus
from core.records import ReadingBatch
from ingest.pipeline import PipelineResult
from ingest.registry import DeadLetterLog, UnregisteredDevices
from store.duckdb_store import DuckDBHistory
from tests.actuators.test_permits import CLEAN, MIN, T0, TWIN, Orders
from tests.api.support import open_accounts, serve
from twin.loader import parse_twin
from twin.state import LiveState
from twin.twin import Twin

PROBLEM = "application/problem+json"


class World:
    """A permit manager over real live state, with a clock the test moves."""

    def __init__(self, tmp: Path) -> None:
        self.now = T0
        self.twin = Twin(parse_twin(TWIN, "t.yaml"))
        self.live = LiveState(self.twin, offline_after_ms=10 * MIN, clock_skew_warn_ms=5 * MIN)
        self.fans = FanStates(self.twin)
        self.orders = Orders()
        settings = PermitSettings(ventilation_min_s=600, gas_stable_s=300)
        self.permits = PermitManager(
            settings, self.twin, self.live, self.fans, stop_work=self.orders, clock=lambda: self.now
        )
        self.history = DuckDBHistory(tmp / "h.duckdb")
        self.history.open()
        self.accounts = open_accounts(self.twin, f"sqlite:///{tmp / 'accounts.db'}")
        admin = self.accounts.create_key(ApiKeyIn(name="tests", role=Role.ADMINISTRATOR), "tests")
        self.admin = {"X-API-Key": admin.key}

    def air(self, ts: int, **over: float) -> None:
        batch = ReadingBatch()
        p = self.twin.devices["gas-1"]
        for metric, value in {**CLEAN, **over}.items():
            unit = p.metrics[metric].unit
            batch.append(ts, ts, "gas-1", metric, value, unit, "s1", "", "tank", p.kind.value)
        self.live.apply(batch)
        self.permits.on_result(PipelineResult(readings=batch))
        self.now = ts

    def context(self) -> ApiContext:
        def status() -> SystemStatus:
            stats = IngestStats(
                messages=0,
                accepted_readings=0,
                dead_letters=0,
                dead_letters_by_category={},
                unregistered_devices=0,
            )
            return SystemStatus(
                mqtt_connected=True, ingest=stats, history={}, alarms=[], devices_total=0, devices_online=0
            )

        return ApiContext(
            twin=self.twin,
            live=self.live,
            history=self.history,
            unregistered=UnregisteredDevices(),
            dead_letters=DeadLetterLog(),
            status=status,
            permits=self.permits,
            accounts=self.accounts,
        )


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    w = World(tmp_path)
    yield w
    w.history.close()
    w.accounts.store.close()


@pytest.fixture
def client(world: World) -> Iterator[httpx.Client]:
    with (
        serve(create_api(world.context())) as base,
        httpx.Client(base_url=f"{base}/api/v1", timeout=5, headers=world.admin) as c,
    ):
        yield c


ASK = {"space_id": "tank", "entrants": ["王师傅", "刘师傅"], "supervisor": "陈工", "reason": "清掏化粪池"}


def problem(r: httpx.Response, status: int) -> dict[str, Any]:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith(PROBLEM)
    body: dict[str, Any] = r.json()
    assert body["status"] == status and body["detail"]
    return body


def test_refused_with_reasons_then_granted_then_entries_revocation_and_close(
    world: World, client: httpx.Client
) -> None:
    for ts in range(T0, T0 + 6 * MIN, MIN):
        world.air(ts)
    refused = problem(client.post("/permits", json=ASK), 409)
    assert any("ventilate first" in r for r in refused["reasons"])
    assert client.get(f"/permits/{refused['permit_id']}").json()["status"] == "refused"

    world.fans.on_state("fan-1", {"on": True, "rpm": 1400}, T0 + 6 * MIN)
    for ts in range(T0 + 6 * MIN, T0 + 17 * MIN, MIN):
        world.air(ts)
    r = client.post("/permits", json=ASK)
    assert r.status_code == 201, r.text
    permit = r.json()
    assert permit["status"] == "granted" and permit["entrants"] == ["王师傅", "刘师傅"]
    pid = permit["id"]

    def log(person: str, direction: str) -> httpx.Response:
        return client.post(f"/permits/{pid}/entries", json={"person": person, "direction": direction})

    assert log("王师傅", "in").status_code == 200
    stranger = log("路人", "in")
    assert "not an entrant" in problem(stranger, 409)["detail"]
    assert "still inside" in problem(client.post(f"/permits/{pid}/close"), 409)["detail"]

    world.air(T0 + 17 * MIN, h2s=16.0)
    revoked = client.get(f"/permits/{pid}").json()
    assert revoked["status"] == "revoked" and revoked["breach"]["reading"]["value"] == 16.0
    assert world.orders.got and world.orders.got[0][0].id == pid
    late = log("刘师傅", "in")
    assert "nobody may enter" in problem(late, 409)["detail"]

    assert log("王师傅", "out").status_code == 200
    closed = client.post(f"/permits/{pid}/close").json()
    assert closed["status"] == "closed" and [e["direction"] for e in closed["entries"]] == ["in", "out"]

    listed = client.get("/permits", params={"status": "closed"}).json()
    assert listed["total"] == 1 and listed["items"][0]["id"] == pid
    assert client.get("/permits").json()["total"] == 2


def test_bad_requests_are_problems_a_person_can_act_on(client: httpx.Client) -> None:
    assert (
        "not a confined space"
        in problem(client.post("/permits", json={**ASK, "space_id": "yard"}), 422)["detail"]
    )
    assert "no space" in problem(client.post("/permits", json={**ASK, "space_id": "nope"}), 422)["detail"]
    problem(client.post("/permits", json={**ASK, "entrants": []}), 422)
    problem(client.post("/permits", json={**ASK, "entrants": ["a", "a"]}), 422)
    assert "no permit" in problem(client.get("/permits/nothing"), 404)["detail"]
    problem(client.post("/permits/nothing/entries", json={"person": "a", "direction": "sideways"}), 422)
