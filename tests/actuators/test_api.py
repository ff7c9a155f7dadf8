"""Actuator routes over real parts: the app factory under uvicorn, a SQLite command store, httpx."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from accounts.models import UserIn
from accounts.roles import Role
from actuators.publisher import CommandPublisher
from actuators.service import ActuatorService
from actuators.settings import ActuatorSettings
from api.app import create_api
from core.contract import AckStatus, CommandAck, Topics, now_ms
from core.settings import DatabaseSettings, MqttSettings
from store.sql.commands import SqlCommandStore
from tests.actuators.support import readings, twin
from tests.api.support import Parts, make_parts, serve

PROBLEM = "application/problem+json"
OPERATOR = "wang-gong"  # the operator who logs in and gives the commands


@pytest.fixture
def service(tmp_path: Path) -> Iterator[ActuatorService]:
    store = SqlCommandStore(DatabaseSettings(url=f"sqlite:///{tmp_path / 'ops.db'}"))
    publisher = CommandPublisher(MqttSettings(), Topics())  # not run: commands wait in its outbox
    svc = ActuatorService(twin(), ActuatorSettings(), publisher, store, rule_of=lambda _id: None)
    svc.open()
    yield svc
    svc.close()


@pytest.fixture
def parts(tmp_path: Path) -> Iterator[Parts]:
    p = make_parts(tmp_path)
    yield p
    p.close()


@pytest.fixture
def who(parts: Parts) -> dict[str, str]:
    """The logged-in operator's Authorization header: the API records their name on each command."""
    parts.accounts.create_user(UserIn(username=OPERATOR, password="operator-password", role=Role.OPERATOR))
    return {"Authorization": f"Bearer {parts.accounts.login(OPERATOR, 'operator-password', 'test').token}"}


@pytest.fixture
def client(parts: Parts, service: ActuatorService) -> Iterator[httpx.Client]:
    ctx = dataclasses.replace(parts.ctx, actuators=service)
    with (
        serve(create_api(ctx)) as base,
        httpx.Client(base_url=f"{base}/api/v1", timeout=5, headers=parts.admin) as c,
    ):
        yield c


def problem(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    body: dict[str, Any] = response.json()
    assert body["status"] == status and body["detail"]
    return body


def test_manual_command_is_recorded_with_operator_reason_and_its_transitions(
    client: httpx.Client, service: ActuatorService, who: dict[str, str]
) -> None:
    since = now_ms()
    body = {"action": "set", "params": {"on": True, "speed": 2}, "reason": "排查异味"}
    r = client.post("/devices/fan-1/commands", json=body, headers=who)
    assert r.status_code == 201, r.text
    rec = r.json()
    assert rec["state"] == "sent" and rec["operator"] == OPERATOR and rec["issued_by"] == f"user:{OPERATOR}"
    assert rec["reason"] == "排查异味" and rec["params"] == {"on": True, "speed": 2}
    corr = rec["correlation_id"]
    service.manager.on_ack("fan-1", CommandAck(correlation_id=corr, status=AckStatus.SUCCEEDED, ts=now_ms()))
    detail = client.get(f"/commands/{corr}").json()
    assert detail["state"] == "succeeded"
    assert [t["state"] for t in detail["transitions"]] == ["queued", "sent", "succeeded"]
    page = client.get("/commands", params={"device_id": "fan-1", "since": since}).json()
    assert page["total"] == 1 and page["items"][0]["correlation_id"] == corr
    assert client.get("/commands", params={"state": "failed"}).json()["total"] == 0
    by_key = client.post("/devices/fan-2/commands", json=body).json()
    assert by_key["operator"].startswith("key:")  # an integration's key is named, never anonymous


def test_bad_params_unknown_devices_and_sensors_are_problems(client: httpx.Client) -> None:
    bad = client.post(
        "/devices/fan-1/commands", json={"action": "set", "params": {"on": 1, "speed": 9}, "reason": "x"}
    )
    assert problem(bad, 422)["errors"][0]["field"] == "params.speed"
    problem(client.post("/devices/nope/commands", json={"action": "set", "reason": "x"}), 404)
    problem(client.post("/devices/co-1/commands", json={"action": "set", "reason": "x"}), 404)
    problem(client.post("/devices/fan-1/commands", json={"action": "set", "params": {"on": True}}), 422)
    problem(client.get("/commands/0123456789abcdef"), 404)


def test_interlock_refusals_are_409_and_stored(
    client: httpx.Client, service: ActuatorService, who: dict[str, str]
) -> None:
    with service.manager._lock:
        service.manager.supervisor.on_readings(
            readings(service.twin, [("lel-1", "lel", 30.0)], now_ms()), now_ms()
        )
    body = {"action": "set", "params": {"on": True}, "reason": "排风"}
    refused = problem(client.post("/devices/kfan-1/commands", json=body, headers=who), 409)
    assert "not explosion-proof" in refused["detail"] and "30 %LEL" in refused["detail"]
    listed = client.get("/commands", params={"device_id": "kfan-1", "state": "refused"}).json()
    assert listed["total"] == 1 and "explosion-proof" in listed["items"][0]["detail"]
    shut = client.post(
        "/devices/valve-1/commands", json={"action": "set", "params": {"open": False}, "reason": "关阀"}
    )
    assert shut.status_code == 201, "shutting the ex-rated gas valve is never refused for %LEL"
    evac = {"action": "play", "params": {"preset": "evacuate"}, "reason": "疏散"}
    refused = problem(client.post("/devices/spk-1/commands", json=evac, headers=who), 409)
    assert "two" in refused["detail"] or "2 independent" in refused["detail"]


def test_actuators_show_state_override_and_suspects(client: httpx.Client, who: dict[str, str]) -> None:
    body = {"action": "set", "params": {"on": True, "speed": 3}, "reason": "试机", "expires_in_s": 600}
    rec = client.post("/devices/fan-2/commands", json=body, headers=who).json()
    assert rec["override_until_ts"] is not None
    views = {v["device_id"]: v for v in client.get("/actuators").json()}
    assert set(views) >= {"fan-1", "fan-2", "valve-1", "spk-1", "relay-d", "tfan-1"}
    assert (
        views["fan-2"]["override_by"] == OPERATOR
        and views["fan-2"]["override_until_ts"] == rec["override_until_ts"]
    )
    assert views["tfan-1"]["explosion_proof"] is True and views["fan-1"]["explosion_proof"] is False
    assert views["valve-1"]["explosion_proof"] is True
    assert client.get("/actuators/suspects").json() == {}
