"""A whole SafeTwin process: readings pushed over HTTP reach the rules and history like MQTT ones, and
an enterprise account sees the places of its own party only."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from core.contract import now_ms
from safetwin.runtime import SafeTwin
from tests.api.support import adev_login
from tests.fixtures.mosquitto import MosquittoBroker
from tests.ingest.test_end_to_end import make_settings
from tests.scenarios.test_alarm_scenarios import PACK, TWIN

pytestmark = [pytest.mark.mosquitto, pytest.mark.slow]


@contextlib.asynccontextmanager
async def running(
    tmp_path: Path, mosquitto: MosquittoBroker
) -> AsyncIterator[tuple[SafeTwin, httpx.AsyncClient]]:
    pack = tmp_path / "pack.yaml"
    pack.write_text(PACK, encoding="utf-8")
    settings = make_settings(
        tmp_path, mosquitto.url, rules={"packs": [pack], "tick_interval_s": 0.2}, api={"port": 0}
    )
    Path(settings.twin.path).write_text(TWIN, encoding="utf-8")
    app = SafeTwin.from_settings(settings)
    task = asyncio.create_task(app.run(api=True, dashboard=False))
    try:
        await asyncio.wait_for(app.ready.wait(), 20)
        headers = await adev_login(app.api_url or "")
        async with httpx.AsyncClient(base_url=f"{app.api_url}/api/v1", timeout=10, headers=headers) as admin:
            yield app, admin
    finally:
        app.stopping.set()
        await asyncio.wait_for(task, 30)


async def test_http_readings_raise_alarms_and_reach_history(
    tmp_path: Path, mosquitto: MosquittoBroker
) -> None:
    async with running(tmp_path, mosquitto) as (app, admin):
        made = await admin.post("/api-keys", json={"name": "garage gateway", "role": "integration"})
        key = {"X-API-Key": made.json()["key"]}
        start = now_ms()
        async with httpx.AsyncClient(base_url=f"{app.api_url}/api/v1", timeout=10, headers=key) as device:
            for _ in range(100):  # the rule wants the level held a second before it fires
                sent = await device.post(
                    "/ingest/telemetry", params={"device_id": "co-2"}, json={"metrics": {"co": 80.0}}
                )
                assert sent.status_code == 202 and sent.json()["accepted"] == 1, sent.text
                alarms = (await admin.get("/alarms", params={"source": "co-2", "state": "active"})).json()
                if alarms["total"]:
                    break
                await asyncio.sleep(0.2)
        assert alarms["total"] == 1 and alarms["items"][0]["rule_id"] == "garage-co"
        for _ in range(100):
            history = await admin.get("/devices/co-2/history", params={"metric": "co", "start": start - 1000})
            if history.json()["points"]:
                break
            await asyncio.sleep(0.1)
        assert history.json()["points"][0]["max"] == 80.0
        audit = (await admin.get("/audit", params={"limit": 200})).json()["items"]
        assert not [e for e in audit if "/ingest/" in e["path"]]  # telemetry is data, not a change


async def test_an_enterprise_sees_the_places_of_its_party(tmp_path: Path, mosquitto: MosquittoBroker) -> None:
    async with running(tmp_path, mosquitto) as (app, admin):
        for name, tenant in (("pm-staff", "pm"), ("street-staff", "jd")):
            made = await admin.post(
                "/users",
                json={
                    "username": name,
                    "password": "a-long-password",
                    "role": "enterprise",
                    "tenant": tenant,
                },
            )
            assert made.status_code == 201, made.text
        async with httpx.AsyncClient(base_url=f"{app.api_url}/api/v1", timeout=10) as c:
            for name, expected in (("pm-staff", set(app.twin.devices)), ("street-staff", set())):
                login = await c.post("/auth/login", json={"username": name, "password": "a-long-password"})
                bearer = {"Authorization": f"Bearer {login.json()['token']}"}
                devices = (await c.get("/devices", headers=bearer)).json()["items"]
                assert {d["id"] for d in devices} == expected, name
