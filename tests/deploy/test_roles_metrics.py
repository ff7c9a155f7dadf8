"""Running processes: /metrics and readiness scraped over HTTP, and the worker / api split."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from core.settings import DEV_PASSWORDS
from safetwin.roles import Role
from safetwin.runtime import SafeTwin
from safetwin.settings import SafeTwinSettings
from tests.fixtures.mosquitto import MosquittoBroker
from tests.fixtures.postgres import PostgresDatabase
from tests.helpers import Publisher, eventually
from tests.ingest.test_end_to_end import make_settings

pytestmark = [pytest.mark.mosquitto]


@contextlib.asynccontextmanager
async def serving(settings: SafeTwinSettings, role: Role = "all") -> AsyncIterator[SafeTwin]:
    """A SafeTwin process with its API on a free port, in the given role."""
    settings.api.port = 0
    app = SafeTwin.from_settings(settings)
    task = asyncio.create_task(app.run(dashboard=False, role=role))
    ready = asyncio.create_task(app.ready.wait())
    done, _ = await asyncio.wait({task, ready}, timeout=30, return_when=asyncio.FIRST_COMPLETED)
    if ready not in done:
        ready.cancel()
        app.stopping.set()
        await task
        raise AssertionError(f"SafeTwin ({role}) did not become ready in 30 s")
    try:
        yield app
    finally:
        app.stopping.set()
        await asyncio.wait_for(task, 40)


def scrape(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of a Prometheus text page by (name, labels)."""
    out: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


async def admin(client: httpx.AsyncClient) -> dict[str, str]:
    """Log in as the development administrator."""
    answer = await client.post(
        "/api/v1/auth/login", json={"username": "admin", "password": DEV_PASSWORDS["admin"]}
    )
    answer.raise_for_status()
    return {"Authorization": f"Bearer {answer.json()['token']}"}


async def get(app: SafeTwin, path: str) -> httpx.Response:
    async with httpx.AsyncClient(base_url=app.api_url or "") as client:
        return await client.get(path)


async def test_metrics_and_readiness_of_a_running_process(tmp_path: Path, mosquitto: MosquittoBroker) -> None:
    settings = make_settings(tmp_path, mosquitto.url)
    async with serving(settings) as app:
        pub = Publisher(mosquitto.host, mosquitto.port)
        try:
            pub.publish(app.topics.telemetry("co-1"), {"metrics": {"co": 5.0}})
            pub.publish(app.topics.telemetry("co-1"), {"metrics": {"co": "high"}})
            pub.publish(app.topics.telemetry("nobody"), {"metrics": {"co": 1.0}})
            await eventually(lambda: app.system_status().ingest.messages >= 3, what="three messages")
        finally:
            pub.close()
        page = await get(app, "/metrics")
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/plain")
        m = scrape(page.text)
        assert m[("safetwin_readings_accepted_total", ())] >= 1
        assert m[("safetwin_mqtt_messages_total", ())] >= 3
        assert m[("safetwin_dead_letters_total", (("category", "invalid"),))] == 1
        assert m[("safetwin_dead_letters_total", (("category", "unknown_device"),))] == 1
        assert m[("safetwin_mqtt_connected", ())] == 1
        assert m[("safetwin_role_info", (("role", "all"),))] == 1
        assert ("safetwin_event_loop_lag_seconds", ()) in m
        assert m[("safetwin_gc_collections_total", (("generation", "0"),))] >= 1
        # counting the frozen heap walks all of it: only when asked for
        assert ("safetwin_gc_frozen_objects", ()) not in m
        counted = scrape((await get(app, "/metrics?heap_objects=true")).text)
        assert counted[("safetwin_gc_frozen_objects", ())] > 10_000
        assert ("safetwin_history_spooled_batches", ()) in m and (
            "safetwin_history_written_points_total",
            (),
        ) in m
        ready = await get(app, "/api/v1/health/ready")
        assert ready.status_code == 200 and ready.json()["ready"] is True
        mosquitto.stop()
        await eventually(lambda: not app.subscriber.status.connected, what="the broker gone")
        down = await get(app, "/api/v1/health/ready")
        assert down.status_code == 503 and down.headers["content-type"] == "application/problem+json"
        assert "MQTT broker" in down.json()["detail"] and down.json()["checks"]["mqtt"] is False
        assert (await get(app, "/api/v1/health")).status_code == 200  # alive all the same
        mosquitto.start()


def _pair(tmp_path: Path, url: str, database: str) -> tuple[SafeTwinSettings, SafeTwinSettings]:
    """Settings of a worker and an api process sharing the broker, topics and operational store."""
    shared: dict[str, Any] = {"database": {"url": database}}
    worker = make_settings(tmp_path / "w", url, **shared)
    api = make_settings(tmp_path / "a", url, **shared, mqtt={"topic_prefix": worker.mqtt.topic_prefix})
    return worker, api


@pytest.mark.postgres
async def test_api_role_shows_live_state_and_leaves_changes_to_the_worker(
    tmp_path: Path, mosquitto: MosquittoBroker, postgres: PostgresDatabase
) -> None:
    (tmp_path / "w").mkdir()
    (tmp_path / "a").mkdir()
    w_settings, a_settings = _pair(tmp_path, mosquitto.url, postgres.url)
    async with serving(w_settings, "worker") as worker, serving(a_settings, "api") as api:
        pub = Publisher(mosquitto.host, mosquitto.port)
        try:
            pub.publish(worker.topics.telemetry("co-2"), {"metrics": {"co": 7.5}})
            await eventually(lambda: "co" in api.live.view("co-2").values, what="live state in the api role")
            await eventually(lambda: "co" in worker.live.view("co-2").values, what="the worker's reading")
        finally:
            pub.close()
        assert api.writer.status().written_points == 0  # the api role writes no history
        assert api.ops.rules.rules() and not api.ops.alarms.open_alarms()  # nor evaluates rules
        async with httpx.AsyncClient(base_url=api.api_url or "") as client:
            client.headers.update(await admin(client))  # accounts are shared through PostgreSQL
            assert (await client.get("/api/v1/alarms")).status_code == 200
            refused = await client.post("/api/v1/alarms/any/acknowledge", json={"user": "op"})
            assert refused.status_code == 503 and "worker" in refused.json()["detail"]
            assert refused.headers["content-type"] == "application/problem+json"
            actuators = await client.get("/api/v1/actuators")  # their state lives in the worker
            assert (
                actuators.status_code == 503
                and actuators.headers["content-type"] == "application/problem+json"
            )
            m = scrape((await client.get("/metrics")).text)
            assert m[("safetwin_role_info", (("role", "api"),))] == 1
        async with httpx.AsyncClient(base_url=worker.api_url or "") as client:
            client.headers.update(await admin(client))
            owned = await client.post("/api/v1/alarms/any/acknowledge", json={"user": "op"})
            assert owned.status_code == 404  # the worker owns alarms: this one just does not exist
            assert (await client.get("/")).status_code == 404  # no dashboard on a worker


async def test_vision_role_serves_health_and_metrics_only(tmp_path: Path, mosquitto: MosquittoBroker) -> None:
    settings = make_settings(tmp_path, mosquitto.url)
    settings.vision.workers = 1
    async with serving(settings, "vision") as app:
        assert app.vision.publisher.status.connected and not app.subscriber.status.connected
        ready = await get(app, "/api/v1/health/ready")
        assert ready.status_code == 200 and ready.json()["role"] == "vision"
        m = scrape((await get(app, "/metrics")).text)
        assert (
            m[("safetwin_role_info", (("role", "vision"),))] == 1 and m[("safetwin_mqtt_connected", ())] == 1
        )
        for path in ("/api/v1/alarms", "/api/v1/twin", "/api/v1/devices"):  # nothing else, not even read
            answer = await get(app, path)
            assert answer.status_code == 503 and "vision role" in answer.json()["detail"]
