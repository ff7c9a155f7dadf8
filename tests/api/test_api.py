"""The HTTP API over real parts: a twin from YAML, live state, DuckDB history, ingest registries.

The app runs under uvicorn on a free port and is read with httpx, as a client would.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from api.app import create_api
from api.params import auto_bucket
from api.server import create_server_app
from tests.api.support import MINUTE, T0, Parts, batch_of, make_parts, serve

PROBLEM = "application/problem+json"


@pytest.fixture(scope="module")
def parts(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Parts]:
    p = make_parts(tmp_path_factory.mktemp("api"))
    yield p
    p.close()


@pytest.fixture(scope="module")
def client(parts: Parts) -> Iterator[httpx.Client]:
    with (
        serve(create_api(parts.ctx)) as base,
        httpx.Client(base_url=f"{base}/api/v1", timeout=5, headers=parts.admin) as c,
    ):
        yield c


def problem(response: httpx.Response, status: int) -> dict[str, Any]:
    """The RFC 9457 body of an error response, after checking its status and media type."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    assert body["type"] == "about:blank"
    assert body["title"] and body["detail"]
    assert body["instance"] == response.request.url.path
    return body


def test_health_and_status(client: httpx.Client) -> None:
    assert client.get("/health").json() == {"status": "ok"}
    status = client.get("/status").json()
    assert status["mqtt_connected"] is True
    assert status["ingest"]["dead_letters"] == 3
    assert status["history"]["backend"] == "duckdb"
    assert status["devices_total"] == 6
    assert status["alarms"][0]["key"] == "history_store_down"


def test_twin_is_the_loaded_spec(client: httpx.Client, parts: Parts) -> None:
    twin = client.get("/twin").json()
    assert twin["name"] == "测试街道"
    assert [s["id"] for s in twin["sites"]] == ["lj", "gs"]
    garage = twin["sites"][0]["buildings"][0]["floors"][0]["spaces"][0]
    assert [d["id"] for d in garage["devices"]] == ["lj-co-01", "lj-co-02", "lj-fan-01"]
    assert twin == parts.twin.spec.model_dump(mode="json")


def test_sites_list_with_counts_and_one_site(client: httpx.Client) -> None:
    page = client.get("/sites").json()
    assert (page["total"], page["limit"], page["offset"]) == (2, 100, 0)
    lj = page["items"][0]
    assert (lj["name"], lj["street"], lj["devices"], lj["devices_online"]) == ("澜景社区", "观澜街道", 5, 3)
    b01, b02 = lj["buildings"]
    assert (b01["id"], b01["devices"], b01["devices_online"]) == ("lj-b01", 3, 1)
    assert (b02["name"], b02["devices"], b02["devices_online"]) == ("澜景花园2栋", 1, 1)
    second = client.get("/sites", params={"limit": 1, "offset": 1}).json()
    assert [s["id"] for s in second["items"]] == ["gs"] and second["total"] == 2

    site = client.get("/sites/gs").json()
    assert site["kind"] == "construction_site"
    assert site["spaces"][0]["devices"][0]["id"] == "gs-cam-01"


def test_building_names_its_site(client: httpx.Client) -> None:
    building = client.get("/buildings/lj-b01").json()
    assert (building["site"], building["name"], building["floors_below"]) == ("lj", "澜景花园1栋", 1)
    assert building["floors"][0]["spaces"][0]["name"] == "1栋B1地下车库"


def test_device_joins_place_and_live_state(client: httpx.Client) -> None:
    dev = client.get("/devices/lj-co-01").json()
    assert {k: dev[k] for k in ("kind", "site", "building", "floor_level", "space", "space_kind")} == {
        "kind": "co_sensor",
        "site": "lj",
        "building": "lj-b01",
        "floor_level": -1,
        "space": "lj-b01-garage",
        "space_kind": "basement_garage",
    }
    assert dev["name"] == "B1车库一氧化碳探测器01" and dev["space_name"] == "1栋B1地下车库"
    assert dev["metrics"]["co"]["unit"] == "ppm"
    live = dev["live"]
    assert (live["online"], live["health"]) == (True, "ok")
    assert live["values"]["co"]["value"] == 12.5 and live["values"]["co"]["unit"] == "ppm"
    never = client.get("/devices/lj-co-02").json()["live"]
    assert (never["online"], never["health"], never["values"], never["last_seen_ts"]) == (
        False,
        "unknown",
        {},
        None,
    )
    outside = client.get("/devices/lj-gas-01").json()
    assert (outside["building"], outside["floor_level"]) == ("", None)


def test_devices_pagination(client: httpx.Client) -> None:
    everything = client.get("/devices").json()
    ids = [d["id"] for d in everything["items"]]
    assert everything["total"] == len(ids) == 6
    pages = [client.get("/devices", params={"limit": 4, "offset": o}).json() for o in (0, 4, 8)]
    assert [len(p["items"]) for p in pages] == [4, 2, 0]
    assert all(p["total"] == 6 and p["limit"] == 4 for p in pages)
    assert [d["id"] for p in pages for d in p["items"]] == ids


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"site": "gs"}, ["gs-cam-01"]),
        ({"building": "lj-b01"}, ["lj-co-01", "lj-co-02", "lj-fan-01"]),
        ({"space": "lj-septic-01"}, ["lj-gas-01"]),
        ({"kind": "co_sensor"}, ["lj-co-01", "lj-co-02"]),
        ({"site": "lj", "kind": "lel_sensor"}, ["lj-lel-01"]),
        ({"site": "gs", "kind": "co_sensor"}, []),
    ],
)
def test_devices_filters(client: httpx.Client, params: dict[str, str], expected: list[str]) -> None:
    page = client.get("/devices", params=params).json()
    assert [d["id"] for d in page["items"]] == expected
    assert page["total"] == len(expected)


def test_history_downsampled_to_buckets(client: httpx.Client) -> None:
    # lj-co-01 has co = i at T0 + i minutes, i = 0..59.
    response = client.get(
        "/devices/lj-co-01/history",
        params={"metric": "co", "start": T0, "end": T0 + 60 * MINUTE, "bucket": 10 * MINUTE},
    )
    body = response.json()
    assert (body["unit"], body["bucket_ms"], body["start"]) == ("ppm", 10 * MINUTE, T0)
    points = body["points"]
    assert [p["ts"] for p in points] == [T0 + k * 10 * MINUTE for k in range(6)]
    assert [p["mean"] for p in points] == [4.5 + 10 * k for k in range(6)]
    assert [(p["min"], p["max"], p["count"]) for p in points[:2]] == [(0, 9, 10), (10, 19, 10)]


def test_history_iso_times_and_auto_bucket(client: httpx.Client) -> None:
    params = {"metric": "co", "start": "2026-01-01T00:30:00Z", "end": "2026-01-01T09:00:00+08:00"}
    body = client.get("/devices/lj-co-01/history", params=params).json()
    assert (body["start"], body["end"]) == (T0 + 30 * MINUTE, T0 + 60 * MINUTE)
    assert body["bucket_ms"] == 5000  # 'auto': the narrowest easily read width giving <= 500 points
    assert [p["mean"] for p in body["points"]] == [float(i) for i in range(30, 60)]
    assert {p["count"] for p in body["points"]} == {1}


def test_history_auto_bucket_over_a_day(client: httpx.Client) -> None:
    body = client.get(
        "/devices/lj-co-01/history",
        params={
            "metric": "co",
            "start": T0 - 12 * 60 * MINUTE,
            "end": T0 + 12 * 60 * MINUTE,
            "bucket": "auto",
        },
    ).json()
    assert body["bucket_ms"] == auto_bucket(24 * 60 * MINUTE) == 5 * MINUTE
    assert len(body["points"]) == 12  # one hour of minute readings in 5-minute buckets
    assert body["points"][0] == {"ts": T0, "mean": 2.0, "max": 4.0, "min": 0.0, "count": 5}


def test_history_defaults_to_the_last_hour(client: httpx.Client, parts: Parts) -> None:
    body = client.get("/devices/lj-co-01/history", params={"metric": "co"}).json()
    assert body["end"] - body["start"] == 60 * MINUTE
    assert body["points"] == []  # the stored readings are from 2026-01-01


def test_unregistered_and_dead_letters(client: httpx.Client) -> None:
    unreg = client.get("/unregistered").json()
    assert unreg["total"] == 1
    assert unreg["items"][0]["device_id"] == "ghost-07"
    assert unreg["items"][0]["last_topic"] == "safetwin/v1/telemetry/ghost-07"
    letters = client.get("/dead-letters", params={"limit": 2}).json()
    assert (letters["total"], letters["limit"]) == (3, 2)
    assert [d["reason"][-3:] for d in letters["items"]] == ["(2)", "(1)"]  # newest first
    assert letters["items"][0]["field"] == "metrics.co"


@pytest.mark.parametrize(
    ("path", "says"),
    [
        ("/devices/no-such-device", "device 'no-such-device' is not in the twin"),
        ("/devices/no-such-device/history?metric=co", "device 'no-such-device' is not in the twin"),
        ("/sites/nowhere", "site 'nowhere' is not in the twin"),
        ("/buildings/b-404", "building 'b-404' is not in the twin"),
        ("/devices?site=nowhere", "site 'nowhere' is not in the twin"),
        ("/devices?space=void", "space 'void' is not in the twin"),
        ("/no-such-endpoint", "no API endpoint at /api/v1/no-such-endpoint"),
    ],
)
def test_not_found_is_problem_json(client: httpx.Client, path: str, says: str) -> None:
    assert says in problem(client.get(path), 404)["detail"]


@pytest.mark.parametrize(
    ("path", "field", "says"),
    [
        ("/devices?limit=0", "limit", "greater than or equal to 1"),
        ("/devices?limit=5000", "limit", "less than or equal to 1000"),
        ("/devices?offset=-1", "offset", "greater than or equal to 0"),
        ("/devices?kind=toaster", "kind", "'co_sensor'"),
        ("/devices/lj-co-01/history", "metric", "required"),
        ("/devices/lj-co-01/history?metric=nox", "metric", "reports battery, co, rssi"),
        ("/devices/lj-co-01/history?metric=co&start=yesterday", "start", "ISO 8601"),
        ("/devices/lj-co-01/history?metric=co&end=2026-01-01T00:00:00", "end", "needs a zone"),
        ("/devices/lj-co-01/history?metric=co&start=2000&end=1000", "end", "after start"),
        ("/devices/lj-co-01/history?metric=co&bucket=often", "bucket", "'auto' or a bucket width"),
        ("/devices/lj-co-01/history?metric=co&bucket=1", "bucket", "use 'auto' or at least 360"),
    ],
)
def test_bad_parameter_is_problem_json_naming_it(
    client: httpx.Client, path: str, field: str, says: str
) -> None:
    body = problem(client.get(path), 422)
    assert f"query parameter '{field}'" in body["detail"]
    assert says in body["detail"]
    assert [e["field"] for e in body["errors"]] == [field]


def test_wrong_method_is_problem_json(client: httpx.Client) -> None:
    response = client.post("/health")
    assert "POST is not allowed" in problem(response, 405)["detail"]
    assert response.headers["allow"] == "GET"


def test_store_failure_is_503(tmp_path: Path) -> None:
    parts = make_parts(tmp_path)
    parts.history.close()
    (tmp_path / "history.duckdb").unlink()
    (tmp_path / "history.duckdb").mkdir()  # the file is gone and cannot be created again
    with serve(create_api(parts.ctx)) as base:
        response = httpx.get(
            f"{base}/api/v1/devices/lj-co-01/history", params={"metric": "co"}, headers=parts.admin
        )
        body = problem(response, 503)
        assert "history store is not available" in body["detail"] and "duckdb" in body["detail"]
        assert response.headers["retry-after"] == "5"
        # Live state still answers while history is down.
        assert httpx.get(f"{base}/api/v1/devices/lj-co-01", headers=parts.admin).status_code == 200
    parts.accounts.store.close()


def test_live_values_follow_ingest(client: httpx.Client, parts: Parts) -> None:
    before = client.get("/devices/lj-lel-01").json()["live"]["values"]["lel"]
    parts.live.apply(batch_of(parts.twin, [("lj-lel-01", "lel", 7.25, before["ts"] + 1000)]))
    assert client.get("/devices/lj-lel-01").json()["live"]["values"]["lel"]["value"] == 7.25


def test_server_app_serves_api_and_local_dashboard(parts: Parts) -> None:
    """One port: /api wins over the dashboard mount, and Dash's own files come from this server."""
    app = create_server_app(parts.ctx, dashboard=True, api_base_url="http://127.0.0.1:9")
    with serve(app) as base, httpx.Client(base_url=base, timeout=5) as web:
        assert web.get("/api/v1/health").json() == {"status": "ok"}
        problem(web.get("/api/v1/nothing-here"), 404)
        problem(web.get("/api/other"), 404)
        assert web.post("/api/v1/status").status_code == 405
        page = web.get("/")
        assert page.status_code == 200 and "text/html" in page.headers["content-type"]
        refs = re.findall(r'<(?:script|link)[^>]+(?:src|href)="([^"]+)"', page.text)
        suites = [r for r in refs if r.startswith("/_dash-component-suites/")]
        assert suites, refs
        assert all(r.startswith("/") and not r.startswith("//") for r in refs), refs
        for ref in refs:
            assert web.get(ref).status_code == 200, ref
        assert web.get("/assets/safetwin.css").status_code == 200


def test_openapi_documents_problem_responses(client: httpx.Client) -> None:
    spec = client.get("/openapi.json").json()
    history = spec["paths"]["/api/v1/devices/{device_id}/history"]["get"]["responses"]
    assert set(history) == {"200", "401", "403", "404", "422", "503"}
    assert "application/problem+json" in history["503"]["content"]
    assert "Problem" in spec["components"]["schemas"]


def test_api_docs_work_offline(client: httpx.Client) -> None:
    """The Swagger page and its scripts come from SafeTwin itself, not from a CDN."""
    page = client.get("/docs")
    assert page.status_code == 200
    urls = re.findall(r"""(?:src|href)=["']([^"']+)["']""", page.text)
    assert urls and all(u.startswith("/api/v1/") for u in urls), urls
    for url in urls:
        asset = client.get(url.removeprefix("/api/v1"))
        assert asset.status_code == 200 and len(asset.content) > 100, url
    assert "url: '/api/v1/openapi.json'" in page.text or '"/api/v1/openapi.json"' in page.text
