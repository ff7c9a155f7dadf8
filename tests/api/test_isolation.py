"""The isolation matrix: every endpoint of the OpenAPI spec, tried as users who must not see or change.

Endpoints come from the app's own spec, so an endpoint added later is in the matrix without a change
here. A facility manager of site gs asks about site lj's objects and lists everything: each answer
is a refusal or holds nothing of lj. A viewer tries every change: each is refused.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from accounts.roles import Role
from tests.api.isolation_world import LJ_SECRETS, World, accounts_url, headers_for, open_world

# Changing nothing: logging in and out.
NOT_CHANGES = {("POST", "/api/v1/auth/login"), ("POST", "/api/v1/auth/logout")}
# A body with the fields the API's change requests use; each request takes what it needs.
BODY: dict[str, Any] = {
    "note": "n",
    "text": "t",
    "assignee": "someone",
    "target": "lj-co-01",
    "until": "2099-01-01T00:00:00Z",
    "reason": "r",
    "ok": True,
    "building_id": "lj-b01",
    "levels": {"alarm": 10},
    "action": "on",
    "params": {},
    "rule": {"id": "x"},
    "name": "n",
    "role": "viewer",
    "username": "someone-new",
    "password": "a-long-password",
    "person_id": "p-1",
    "site_id": "lj",
    "space_id": "lj-b01-garage",
    "device_id": "lj-co-01",
}


def _endpoints(spec: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    """(method, path, operation) of every operation of the spec."""
    return [
        (method.upper(), path, op)
        for path, ops in spec["paths"].items()
        for method, op in ops.items()
        if method in ("get", "post", "put", "patch", "delete")
    ]


def _path_values(world: World) -> dict[str, str]:
    """Path parameters naming site lj's objects; anything else gets an lj device id."""
    return {
        "device_id": "lj-co-01",
        "site_id": "lj",
        "building_id": "lj-b01",
        "space_id": "lj-b01-garage",
        "alarm_id": world.lj_alarm.id,
        "order_id": world.lj_alarm.work_order_id or "",
        "target": "lj-co-01",
        "party_id": "lj-party",
        "correlation_id": world.lj_command,
        "permit_id": world.lj_permit,
    }


def _fill(path: str, values: dict[str, str]) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: values.get(m.group(1), "lj-co-01"), path)


def _query(op: dict[str, Any]) -> dict[str, str]:
    """Required query parameters: a metric, else an lj id."""
    out = {}
    for p in op.get("parameters", []):
        if p["in"] == "query" and p.get("required"):
            out[p["name"]] = "co" if p["name"] == "metric" else "lj-co-01"
    if "duration_s" in {p["name"] for p in op.get("parameters", [])}:
        out["duration_s"] = "0.2"  # the stream closes by itself
    return out


def _send(client: httpx.Client, method: str, path: str, op: dict[str, Any]) -> httpx.Response:
    url = path.removeprefix("/api/v1")
    if method in ("GET", "DELETE"):
        return client.request(method, url, params=_query(op))
    return client.request(method, url, params=_query(op), json=BODY)


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def world(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    for url in accounts_url(request, request.param):
        with open_world(tmp_path_factory.mktemp("isolation"), url) as w:
            yield w


@pytest.fixture(scope="module")
def spec(world: World) -> dict[str, Any]:
    with world.client(world.parts.admin) as c:
        body: dict[str, Any] = c.get("/openapi.json").json()
    return body


def test_matrix_covers_the_api(spec: dict[str, Any]) -> None:
    paths = {p for _, p, _ in _endpoints(spec)}
    assert {"/api/v1/devices/{device_id}", "/api/v1/alarms/{alarm_id}/acknowledge", "/api/v1/audit"} <= paths
    assert len(paths) > 30


def test_another_sites_manager_gets_refusals_or_nothing_of_it(world: World, spec: dict[str, Any]) -> None:
    values = _path_values(world)
    lj_ids = (
        *LJ_SECRETS,
        "lj-co-01",
        "lj-b01",
        world.lj_alarm.id,
        world.lj_alarm.work_order_id or "",
        world.lj_command,
        world.lj_permit,
    )
    leaks = []
    with world.client(headers_for(world, Role.FACILITY_MANAGER, sites=["gs"])) as gs_manager:
        for method, path, op in _endpoints(spec):
            if (method, path) in NOT_CHANGES:
                continue
            names_lj = "{" in path
            answer = _send(gs_manager, method, _fill(path, values), op)
            if answer.status_code in (403, 404):
                continue
            if names_lj and answer.is_success:
                leaks.append(f"{method} {path}: {answer.status_code} on site lj's object")
                continue
            text = answer.text if answer.is_success else ""  # refusals may repeat the request's own ids
            shown = [s for s in (lj_ids if answer.is_success else LJ_SECRETS) if s in (text or answer.text)]
            if shown or (answer.status_code >= 500 and answer.status_code != 503):
                leaks.append(f"{method} {path}: {answer.status_code} shows {shown}")
    assert not leaks, "\n".join(leaks)


def test_a_viewer_changes_nothing(world: World, spec: dict[str, Any]) -> None:
    allowed = []
    with world.client(headers_for(world, Role.VIEWER)) as viewer:
        for method, path, op in _endpoints(spec):
            if method == "GET" or (method, path) in NOT_CHANGES:
                continue
            answer = _send(viewer, method, _fill(path, _path_values(world)), op)
            if answer.status_code != 403:
                allowed.append(f"{method} {path}: {answer.status_code}")
    assert not allowed, "\n".join(allowed)


def test_without_credentials_only_the_public_paths_answer(world: World, spec: dict[str, Any]) -> None:
    public = {"/api/v1/auth/login", "/api/v1/health"}
    with world.client({}) as anonymous:
        for method, path, op in _endpoints(spec):
            if path in public or path.startswith("/api/v1/health/") or not path.startswith("/api/v1/"):
                continue  # /metrics, outside the API, is for the scraper on the internal network
            answer = _send(anonymous, method, _fill(path, _path_values(world)), op)
            assert answer.status_code == 401, f"{method} {path}: {answer.status_code}"
            assert answer.headers["www-authenticate"].startswith("Bearer")
        assert anonymous.get("/health").status_code == 200
        assert anonymous.get("/openapi.json").status_code == 200


def test_the_matrix_is_not_empty_handed_for_the_administrator(world: World, spec: dict[str, Any]) -> None:
    """The same lj requests as the administrator are not refused: the refusals above are the scope's."""
    values = _path_values(world)
    with world.client(world.parts.admin) as admin:
        for method, path, op in _endpoints(spec):
            if method != "GET" or "{" not in path:
                continue
            answer = _send(admin, method, _fill(path, values), op)
            assert answer.status_code not in (401, 403), f"{method} {path}: {answer.status_code}"


def test_a_manager_sees_their_own_site_and_only_it(world: World) -> None:
    with world.client(headers_for(world, Role.FACILITY_MANAGER, sites=["gs"])) as gs_manager:
        assert [d["id"] for d in gs_manager.get("/devices").json()["items"]] == ["gs-cam-01"]
        assert [s["id"] for s in gs_manager.get("/sites").json()["items"]] == ["gs"]
        assert [a["id"] for a in gs_manager.get("/alarms").json()["items"]] == [world.gs_alarm.id]
        orders = gs_manager.get("/work-orders").json()["items"]
        assert [o["id"] for o in orders] == [world.gs_alarm.work_order_id]
        assert gs_manager.get(f"/alarms/{world.gs_alarm.id}").status_code == 200
        twin = gs_manager.get("/twin").json()
        assert [s["id"] for s in twin["sites"]] == ["gs"]
        status = gs_manager.get("/status").json()
        assert (status["devices_total"], status["devices_online"]) == (1, 0)  # gs-cam-01, silent
        assert gs_manager.get("/dead-letters").status_code == 403


def test_a_building_manager_sees_one_building_of_a_site(world: World) -> None:
    with world.client(headers_for(world, Role.FACILITY_MANAGER, buildings=["lj-b02"])) as b02:
        assert [d["id"] for d in b02.get("/devices").json()["items"]] == ["lj-lel-01"]
        (site,) = b02.get("/sites").json()["items"]
        assert [b["id"] for b in site["buildings"]] == ["lj-b02"] and site["devices"] == 1
        assert b02.get("/devices/lj-co-01").status_code == 404  # lj-b01 is another building
        assert b02.get("/devices/lj-gas-01").status_code == 404  # the septic tank is the site's
        assert b02.get(f"/alarms/{world.lj_alarm.id}").status_code == 404  # raised in lj-b01


def test_not_found_reads_the_same_for_hidden_and_absent(world: World) -> None:
    with world.client(headers_for(world, Role.FACILITY_MANAGER, sites=["gs"])) as gs_manager:
        hidden = gs_manager.get("/devices/lj-co-01").json()["detail"].replace("lj-co-01", "X")
        absent = gs_manager.get("/devices/no-such-device").json()["detail"].replace("no-such-device", "X")
        assert hidden == absent
        hidden = gs_manager.get(f"/alarms/{world.lj_alarm.id}").json()["detail"]
        absent = gs_manager.get("/alarms/nope").json()["detail"]
        assert hidden.replace(world.lj_alarm.id, "X") == absent.replace("nope", "X")


def test_a_viewer_reads_but_acting_is_403(world: World) -> None:
    with world.client(headers_for(world, Role.VIEWER)) as viewer:
        assert viewer.get(f"/alarms/{world.lj_alarm.id}").status_code == 200
        refused = viewer.post(f"/alarms/{world.lj_alarm.id}/acknowledge", json={"note": "x"})
        assert refused.status_code == 403 and "alarms:act" in refused.json()["detail"]
        assert refused.headers["content-type"].startswith("application/problem+json")


def test_actions_are_recorded_under_the_authenticated_name(world: World, tmp_path: Path) -> None:
    with world.client(headers_for(world, Role.OPERATOR)) as operator:
        done = operator.post(
            f"/alarms/{world.gs_alarm.id}/comments", json={"user": "someone else", "text": "on my way"}
        )
        assert done.status_code == 201, done.text
        actor = operator.get("/auth/me").json()["username"]
        assert actor.startswith("key:") and actor in done.json()["actor"]  # not the body's 'user'
    with world.client(world.parts.admin) as admin:
        audit = admin.get("/audit", params={"actor": actor}).json()
    entry = audit["items"][0]
    assert entry["action"] == "POST /api/v1/alarms/{alarm_id}/comments" and entry["status"] == 201
    assert entry["ip"] == "127.0.0.1" and entry["detail"]["alarm_id"] == world.gs_alarm.id


def test_commands_and_actuators_of_another_site_are_hidden(world: World) -> None:
    with world.client(world.parts.admin) as admin:
        assert [c["correlation_id"] for c in admin.get("/commands").json()["items"]] == [world.lj_command]
    with world.client(headers_for(world, Role.FACILITY_MANAGER, sites=["gs"])) as gs_manager:
        assert gs_manager.get("/commands").json() == {"items": [], "total": 0, "limit": 100, "offset": 0}
        assert gs_manager.get("/actuators").json() == []
        assert gs_manager.get(f"/commands/{world.lj_command}").status_code == 404
        assert gs_manager.get("/permits").json()["total"] == 0
        assert gs_manager.get(f"/permits/{world.lj_permit}").status_code == 404
        refused = gs_manager.post(
            "/devices/lj-fan-01/commands", json={"action": "set", "params": {"on": False}, "reason": "x"}
        )
        absent = gs_manager.post(
            "/devices/no-fan/commands", json={"action": "set", "params": {"on": False}, "reason": "x"}
        )
        assert refused.status_code == absent.status_code == 404
        assert refused.json()["detail"].replace("lj-fan-01", "X") == absent.json()["detail"].replace(
            "no-fan", "X"
        )
    with world.client(headers_for(world, Role.VIEWER)) as viewer:
        assert viewer.get("/permits").json()["total"] == 1  # the refused one, seen by the centre
        assert (
            viewer.post(
                "/devices/lj-fan-01/commands", json={"action": "set", "params": {}, "reason": "x"}
            ).status_code
            == 403
        )
