"""Build the configured history backend and its writer from the settings."""

from __future__ import annotations

from core.settings import StoreSettings
from store.base import HistoryBackend
from store.duckdb_store import DuckDBHistory
from store.influx import InfluxHistory
from store.spool import DiskSpool
from store.writer import AlarmCallback, HistoryWriter


def make_history(settings: StoreSettings) -> HistoryBackend:
    """The backend chosen by `settings.backend`, not yet opened (the writer opens it)."""
    if settings.backend == "duckdb":
        return DuckDBHistory(settings.duckdb_path, settings.duckdb_memory_limit_mb)
    if settings.backend == "influxdb":
        return InfluxHistory(settings.influx)
    raise ValueError(f"unknown history backend {settings.backend!r}")


def make_writer(
    settings: StoreSettings, backend: HistoryBackend, on_alarm: AlarmCallback | None = None
) -> HistoryWriter:
    """A writer for `backend` with the spool and timings of the settings; call start() on it."""
    return HistoryWriter(
        backend,
        DiskSpool(settings.spool_dir, settings.spool_max_bytes),
        flush_interval_s=settings.flush_interval_s,
        batch_max_points=settings.batch_max_points,
        retry_interval_s=settings.retry_interval_s,
        on_alarm=on_alarm,
    )
