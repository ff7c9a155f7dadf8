"""History test helpers: readings with known values and settings for the test InfluxDB."""

from __future__ import annotations

from typing import Any

from core.records import ReadingBatch
from core.settings import InfluxSettings
from tests.fixtures.influx import InfluxServer

T0 = 1_767_225_600_000  # 2026-01-01T00:00:00Z, a multiple of every bucket size used here


def batch_of(
    device_id: str,
    metric: str,
    points: list[tuple[int, float]],
    *,
    unit: str = "ppm",
    site: str = "site-1",
    building: str = "b-1",
    space: str = "s-1",
    kind: str = "co_sensor",
) -> ReadingBatch:
    """A batch of one device and metric; received 7 ms after each measurement."""
    batch = ReadingBatch()
    for ts, value in points:
        batch.append(ts, ts + 7, device_id, metric, value, unit, site, building, space, kind)
    return batch


def influx_settings(server: InfluxServer, database: str = "safetwin_test", **kw: Any) -> InfluxSettings:
    return InfluxSettings(**{"url": server.url, "database": database, "timeout_s": 5.0, **kw})
