"""The change stream filtered by scope, and HTTP ingest validated like MQTT ingest."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from accounts.roles import Role
from alarms.writer import ChangeSet
from tests.api.isolation_world import World, headers_for, open_world

PROBLEM = "application/problem+json"


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    with open_world(tmp_path_factory.mktemp("live")) as w:
        yield w


def _read_stream(
    world: World, headers: dict[str, str], out: list[tuple[str, Any]], ready: threading.Event
) -> None:
    url = f"{world.base}/api/v1/stream"
    with httpx.stream(
        "GET", url, headers=headers, params={"duration_s": 3}, timeout=10, trust_env=False
    ) as r:
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
        event = ""
        for line in r.iter_lines():
            if line.startswith(": connected"):
                ready.set()
            elif line.startswith("event: "):
                event = line.removeprefix("event: ")
            elif line.startswith("data: "):
                out.append((event, json.loads(line.removeprefix("data: "))))


def test_stream_sends_only_changes_in_scope(world: World) -> None:
    got: list[tuple[str, Any]] = []
    ready = threading.Event()
    reader = threading.Thread(
        target=_read_stream, args=(world, headers_for(world, Role.FACILITY_MANAGER, sites=["gs"]), got, ready)
    )
    reader.start()
    assert ready.wait(10), "the stream did not open"
    world.hub.on_change_set(ChangeSet(alarms={a.id: a for a in (world.lj_alarm, world.gs_alarm)}))
    with world.client(world.parts.admin) as admin:  # a reading of a device of lj, through HTTP ingest
        answer = admin.post(
            "/ingest/telemetry", params={"device_id": "lj-lel-01"}, json={"metrics": {"lel": 3.0}}
        )
        assert answer.status_code == 202, answer.text
    reader.join(15)
    alarms = [data["id"] for kind, data in got if kind == "alarm"]
    assert alarms == [world.gs_alarm.id]
    assert not [data for kind, data in got if kind == "device"]  # lj-lel-01 is not the manager's


def test_stream_of_an_operator_has_every_change(world: World) -> None:
    got: list[tuple[str, Any]] = []
    ready = threading.Event()
    reader = threading.Thread(
        target=_read_stream, args=(world, headers_for(world, Role.OPERATOR), got, ready)
    )
    reader.start()
    assert ready.wait(10)
    world.hub.on_change_set(ChangeSet(alarms={a.id: a for a in (world.lj_alarm, world.gs_alarm)}))
    reader.join(15)
    assert sorted(data["id"] for kind, data in got if kind == "alarm") == sorted(
        [world.lj_alarm.id, world.gs_alarm.id]
    )


def test_http_ingest_reaches_live_state_and_history(world: World) -> None:
    ingest = headers_for(world, Role.INTEGRATION)
    ts = int(time.time() * 1000)
    with world.client(ingest) as device:
        answer = device.post(
            "/ingest/telemetry", params={"device_id": "lj-co-02"}, json={"ts": ts, "metrics": {"co": 17.5}}
        )
        assert answer.status_code == 202 and answer.json() == {"accepted": 1, "refused": []}
    with world.client(world.parts.admin) as admin:
        assert admin.get("/devices/lj-co-02").json()["live"]["values"]["co"]["value"] == 17.5
        points = admin.get(
            "/devices/lj-co-02/history", params={"metric": "co", "start": ts - 1000, "end": ts + 1000}
        ).json()["points"]
        assert [p["mean"] for p in points] == [17.5]


def test_http_ingest_refusals_name_the_field_like_mqtt_dead_letters(world: World) -> None:
    with world.client(headers_for(world, Role.INTEGRATION)) as device:
        bad = device.post(
            "/ingest/telemetry", params={"device_id": "lj-co-02"}, json={"metrics": {"co": "high"}}
        )
        assert bad.status_code == 422 and bad.headers["content-type"].startswith(PROBLEM)
        assert bad.json()["errors"][0]["field"] == "metrics.co"
        unknown = device.post(
            "/ingest/telemetry", params={"device_id": "ghost-9"}, json={"metrics": {"co": 1}}
        )
        assert unknown.status_code == 422 and "ghost-9" in unknown.text
        both = device.post(
            "/ingest/telemetry", params={"device_id": "a", "gateway_id": "b"}, json={"metrics": {"co": 1}}
        )
        assert both.status_code == 422 and "exactly one" in both.json()["detail"]
    with world.client(world.parts.admin) as admin:
        letters = admin.get("/dead-letters").json()["items"]
        assert any(d["device_id"] == "lj-co-02" and d["field"] == "metrics.co" for d in letters)


def test_ingest_needs_the_ingest_permission(world: World) -> None:
    with world.client(headers_for(world, Role.OPERATOR)) as operator:
        refused = operator.post(
            "/ingest/telemetry", params={"device_id": "lj-co-02"}, json={"metrics": {"co": 1}}
        )
        assert refused.status_code == 403 and "ingest:write" in refused.json()["detail"]


def test_a_stream_ends_when_its_session_does(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("api.routes.stream.HEARTBEAT_S", 0.2)  # the session is checked at each heartbeat
    world.parts.accounts.ensure_user("watcher", "watcher-password", Role.OPERATOR)
    token = world.parts.accounts.login("watcher", "watcher-password", "test").token
    ended = threading.Event()

    def read() -> None:
        url = f"{world.base}/api/v1/stream"
        with httpx.stream("GET", url, headers={"Authorization": f"Bearer {token}"}, timeout=30) as r:
            for _ in r.iter_lines():
                pass
        ended.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    assert not ended.wait(1.0)  # open, with no end of its own
    with world.client({"Authorization": f"Bearer {token}"}) as c:
        assert c.post("/auth/logout").status_code == 204
    assert ended.wait(10), "the stream stayed open after logout"
