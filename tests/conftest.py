"""Shared fixtures: real services (Mosquitto, InfluxDB, PostgreSQL) and a guard against leaked tasks."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

pytest_plugins = ["tests.fixtures.mosquitto", "tests.fixtures.influx", "tests.fixtures.postgres"]


@pytest.fixture(autouse=True)
async def _no_leaked_tasks() -> AsyncIterator[None]:
    """Fail a test that leaves asyncio tasks running behind it."""
    before = asyncio.all_tasks()
    yield
    await asyncio.sleep(0)
    leaked = [t for t in asyncio.all_tasks() - before if not t.done() and t is not asyncio.current_task()]
    for t in leaked:
        t.cancel()
    if leaked:
        pytest.fail(f"test left {len(leaked)} task(s) running: {[t.get_coro() for t in leaked]}")
