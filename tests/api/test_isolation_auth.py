"""Logging in and out, who am I, login rate limiting, users and API keys, the audit log, over HTTP."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from accounts.models import UserIn
from accounts.roles import Role
from api.app import create_api
from tests.api.isolation_world import World, accounts_url, open_world
from tests.api.support import make_parts, serve

PROBLEM = "application/problem+json"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def world(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    for url in accounts_url(request, request.param):
        with open_world(tmp_path_factory.mktemp("auth"), url) as w:
            w.parts.accounts.create_user(
                UserIn(username="mgr", password="manager-password", role=Role.FACILITY_MANAGER, sites=["gs"])
            )
            yield w


def _login(c: httpx.Client, username: str, password: str) -> httpx.Response:
    return c.post("/auth/login", json={"username": username, "password": password})


def test_login_me_and_logout(world: World) -> None:
    with world.client({}) as c:
        answer = _login(c, "mgr", "manager-password")
        assert answer.status_code == 200, answer.text
        token = answer.json()["token"]
        assert answer.json()["user"]["role"] == "facility_manager"
        bearer = {"Authorization": f"Bearer {token}"}
        me = c.get("/auth/me", headers=bearer).json()
        assert (me["username"], me["sites"], me["everything"]) == ("mgr", ["gs"], False)
        assert "alarms:act" in me["permissions"] and "users:admin" not in me["permissions"]
        assert c.post("/auth/logout", headers=bearer).status_code == 204
        after = c.get("/auth/me", headers=bearer)
        assert after.status_code == 401 and after.headers["content-type"].startswith(PROBLEM)


def test_wrong_password_then_lockout_with_retry_after(world: World) -> None:
    with world.client({}) as c:
        for _ in range(3):
            wrong = _login(c, "mgr", "not-the-password")
            assert wrong.status_code == 401 and "user name or password" in wrong.json()["detail"]
        locked = _login(c, "mgr", "manager-password")
        assert locked.status_code == 429 and int(locked.headers["retry-after"]) > 0
        assert locked.headers["content-type"].startswith(PROBLEM)


def test_users_crud_by_the_administrator(world: World) -> None:
    with world.client(world.parts.admin) as admin:
        made = admin.post(
            "/users",
            json={"username": "ops-1", "password": "operator-password", "role": "operator"},
        )
        assert made.status_code == 201, made.text
        assert "password" not in made.text and "hash" not in made.text
        assert (
            admin.post(
                "/users", json={"username": "ops-1", "password": "x" * 12, "role": "operator"}
            ).status_code
            == 409
        )
        bad = admin.post("/users", json={"username": "m2", "password": "x" * 12, "role": "facility_manager"})
        assert bad.status_code == 422 and "site or building" in bad.json()["detail"]
        names = [u["username"] for u in admin.get("/users").json()["items"]]
        assert {"mgr", "ops-1"} <= set(names)
        changed = admin.patch("/users/ops-1", json={"role": "viewer"})
        assert changed.json()["role"] == "viewer"
        assert admin.delete("/users/ops-1").status_code == 204
        assert admin.get("/users/ops-1").status_code == 404
    with world.client({}) as c:
        token = _login(c, "mgr", "manager-password").json()["token"]
        assert c.get("/users", headers={"Authorization": f"Bearer {token}"}).status_code == 403


def test_api_key_shown_once_then_listed_without_it_and_revoked(world: World) -> None:
    with world.client(world.parts.admin) as admin:
        made = admin.post("/api-keys", json={"name": "gateway 7", "role": "integration"}).json()
        key = made["key"]
        listed = admin.get("/api-keys").json()["items"]
        assert key not in str(listed) and made["id"] in [k["id"] for k in listed]
        with world.client({"X-API-Key": key}) as integration:
            assert integration.get("/alarms").status_code == 403  # an ingest key reads no alarms
            assert admin.delete(f"/api-keys/{made['id']}").json()["revoked"] is True
            assert integration.get("/twin").status_code == 401


def test_changes_and_logins_are_audited_with_who_and_where(world: World) -> None:
    with world.client({}) as c:
        _login(c, "mgr", "wrong-password")
    with world.client(world.parts.admin) as admin:
        admin.post("/users", json={"username": "ops-2", "password": "operator-password", "role": "operator"})
        page = admin.get("/audit", params={"limit": 2}).json()
        assert page["total"] >= 2 and page["limit"] == 2
        newest, older = page["items"]
        assert newest["action"] == "POST /api/v1/users" and newest["status"] == 201
        assert newest["actor"].startswith("key:") and newest["role"] == "administrator"
        assert (older["actor"], older["status"], older["ip"]) == ("mgr", 401, "127.0.0.1")
        assert "password" not in str(page)


def test_without_accounts_the_api_serves_nothing_but_health(tmp_path: Path) -> None:
    parts = make_parts(tmp_path)
    try:
        with serve(create_api(dataclasses.replace(parts.ctx, accounts=None))) as base:
            assert httpx.get(f"{base}/api/v1/health").status_code == 200
            refused = httpx.get(f"{base}/api/v1/devices", headers=parts.admin)
            assert refused.status_code == 503 and "accounts are not configured" in refused.json()["detail"]
    finally:
        parts.close()
