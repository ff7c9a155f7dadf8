"""Rules through the API on a running SafeTwin: create, edit (versions), building override, delete."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from core.alarms import AlarmState
from core.contract import now_ms
from safetwin.runtime import SafeTwin
from tests.api.support import adev_login
from tests.fixtures.mosquitto import MosquittoBroker
from tests.helpers import Publisher, eventually
from tests.ingest.test_end_to_end import make_settings
from tests.scenarios.test_alarm_scenarios import PACK, TWIN

pytestmark = [pytest.mark.mosquitto, pytest.mark.slow]

RULE: dict[str, Any] = {
    "id": "b1-co-strict",
    "name": "B1 CO strict",
    "category": "gas",
    "type": "threshold",
    "metric": "co",
    "direction": "above",
    "target": {"device_kinds": ["co_sensor"], "space_kinds": ["basement_garage"]},
    "citation": {"standard": "GB 50736-2012", "clause": "6.3.8"},
    "levels": [
        {
            "severity": "warning",
            "trigger": 15,
            "clear": 10,
            "on_delay_s": 0,
            "off_delay_s": 0,
            "bounds": {"min": 5, "max": 15},
        }
    ],
}


@contextlib.asynccontextmanager
async def with_api(
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
        async with httpx.AsyncClient(base_url=f"{app.api_url}/api/v1", timeout=10, headers=headers) as client:
            yield app, client
    finally:
        app.stopping.set()
        await asyncio.wait_for(task, 30)


async def co(app: SafeTwin, pub: Publisher, value: float) -> None:
    pub.publish(app.topics.telemetry("co-2"), {"ts": now_ms(), "metrics": {"co": value}})
    await asyncio.sleep(0.3)


def active(app: SafeTwin, rule: str) -> list[Any]:
    items, _ = app.ops.alarms.list_alarms(source_id="co-2", limit=50)
    return [a for a in items if a.rule_id == rule and a.state is AlarmState.ACTIVE]


async def test_rules_created_edited_overridden_and_deleted_through_the_api(
    tmp_path: Path, mosquitto: MosquittoBroker
) -> None:
    async with with_api(tmp_path, mosquitto) as (app, api):
        pub = Publisher(mosquitto.host, mosquitto.port)
        try:
            listed = (await api.get("/rules")).json()
            assert {r["rule"]["id"] for r in listed} >= {"garage-co", "co-stuck", "co-silent"}
            assert all(r["source"] == "pack" for r in listed)

            made = await api.post("/rules", json={"user": "管理员", "rule": RULE})
            assert made.status_code == 201, made.text
            assert made.json()["rule"]["version"] == 1
            await co(app, pub, 18)
            await eventually(lambda: bool(active(app, "b1-co-strict")), what="the new rule fires")

            edited = await api.put(
                "/rules/b1-co-strict",
                json={
                    "user": "管理员",
                    "rule": {**RULE, "levels": [{**RULE["levels"][0], "trigger": 14, "clear": 10}]},
                },
            )
            assert edited.status_code == 200 and edited.json()["rule"]["version"] == 2
            versions = (await api.get("/rules/b1-co-strict/versions")).json()
            assert [(v["version"], v["actor"]) for v in versions] == [
                (1, "admin"),
                (2, "admin"),
            ]  # who logged in, not the body's user
            await eventually(
                lambda: not active(app, "b1-co-strict"), what="the replaced version's alarm resolves"
            )

            too_loose = await api.post(
                "/rules/b1-co-strict/overrides",
                json={"user": "物业", "building_id": "bld-1", "levels": {"warning": 40}},
            )
            assert too_loose.status_code == 422 and "bounds" in too_loose.json()["detail"].lower()
            ok = await api.post(
                "/rules/b1-co-strict/overrides",
                json={"user": "物业", "building_id": "bld-1", "levels": {"warning": 12}},
            )
            assert ok.status_code == 201, ok.text
            assert ok.json()["rule"]["id"] == "b1-co-strict@bld-1"

            bad = await api.post("/rules", json={"user": "x", "rule": {**RULE, "id": "r2", "type": "bogus"}})
            assert bad.status_code == 422 and bad.headers["content-type"].startswith(
                "application/problem+json"
            )
            taken = await api.post("/rules", json={"user": "x", "rule": RULE})
            assert taken.status_code == 409

            gone = await api.delete("/rules/b1-co-strict", params={"user": "管理员"})
            assert gone.status_code == 204
            assert (await api.get("/rules/b1-co-strict")).status_code == 404
        finally:
            pub.close()
