"""Fuzzing the OpenAPI spec as an administrator: no request, however odd, makes the server fail.

Schemathesis generates requests from the spec for every GET and POST operation (a few examples each,
to stay bounded) and sends them over HTTP to the real server. A 5xx is a failure, except a 503 from a
part that is not running in this process (it says so as problem+json).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from api.app import create_api
from api.context import ApiContext, SystemStatus
from ingest.registry import DeadLetterLog, UnregisteredDevices
from store.duckdb_store import DuckDBHistory
from tests.api.isolation_world import World, open_world
from tests.api.support import TWIN_YAML
from twin.loader import parse_twin
from twin.state import LiveState
from twin.twin import Twin

PROBLEM = "application/problem+json"


@pytest.fixture(scope="module")
def fuzz_world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    with open_world(tmp_path_factory.mktemp("fuzz")) as world:
        yield world


def _spec() -> dict[str, Any]:
    """The spec of the app the server runs: routes do not depend on the data behind them."""
    twin = Twin(parse_twin(TWIN_YAML, "fuzz.yaml"))
    ctx = ApiContext(
        twin=twin,
        live=LiveState(twin, offline_after_ms=60_000, clock_skew_warn_ms=60_000),
        history=DuckDBHistory(Path("unused.duckdb")),  # never opened: only the spec is read
        unregistered=UnregisteredDevices(),
        dead_letters=DeadLetterLog(),
        status=lambda: SystemStatus.model_validate({}),
    )
    return create_api(ctx).openapi()


# The stream stays open by design; logging out ends nothing for a key.
schema = (
    schemathesis.openapi.from_dict(_spec())
    .include(method=["GET", "POST"])
    .exclude(path=["/api/v1/stream", "/api/v1/auth/logout"])
)


@schema.parametrize()
@settings(max_examples=2, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
def test_no_server_errors(case: schemathesis.Case[Any], fuzz_world: World) -> None:
    response = case.call(base_url=fuzz_world.base, headers=fuzz_world.parts.admin, timeout=10)
    status = response.status_code
    assert status < 500 or status == 503, (
        f"{case.method} {case.formatted_path}: {status} {response.text[:500]}"
    )
    if status >= 400:
        content_type = response.headers.get("content-type", [""])[0]
        assert content_type.startswith(PROBLEM), f"{case.method} {case.formatted_path}: {response.text[:200]}"
