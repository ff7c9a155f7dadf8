"""History fixtures: each backend opened on a real, empty store."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from store.base import HistoryBackend
from store.duckdb_store import DuckDBHistory
from store.influx import InfluxHistory
from tests.fixtures.influx import InfluxServer
from tests.store.support import influx_settings


@pytest.fixture(params=["duckdb", pytest.param("influxdb", marks=pytest.mark.influxdb)])
def history(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[HistoryBackend]:
    """Each backend, opened on a real, empty store."""
    backend: HistoryBackend
    if request.param == "duckdb":
        backend = DuckDBHistory(tmp_path / "nested" / "history.duckdb")
    else:
        server: InfluxServer = request.getfixturevalue("influxdb")
        backend = InfluxHistory(influx_settings(server))
    backend.open()
    yield backend
    backend.close()
