"""The history writer end to end, on real stores: DuckDB files and a real influxd that goes away."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from core.records import ReadingBatch
from core.settings import InfluxSettings
from store.base import HistoryBackend
from store.duckdb_store import DuckDBHistory
from store.influx import InfluxHistory
from store.spool import DiskSpool
from store.writer import HistoryWriter
from tests.fixtures.influx import InfluxServer
from tests.fixtures.mosquitto import free_port
from tests.store.support import T0, batch_of, influx_settings

DEVICES = ["co-1", "探测器-2", "gas 3,b"]
METRICS = ["co", "ch4"]
Key = tuple[str, str, int]


class Alarms:
    """Records on_alarm calls, which come from the writer thread."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []
        self._lock = threading.Lock()

    def __call__(self, code: str, message: str) -> None:
        with self._lock:
            self.calls.append((code, message))

    def codes(self) -> list[str]:
        with self._lock:
            return [code for code, _ in self.calls]


class Feeder:
    """Submits a reading of every device and metric each tick, remembering what it sent."""

    def __init__(self, writer: HistoryWriter) -> None:
        self.writer = writer
        self.sent: dict[Key, float] = {}
        self.tick = 0

    def batch(self) -> ReadingBatch:
        batch = ReadingBatch()
        for d in DEVICES:
            for m in METRICS:
                ts, value = T0 + self.tick, float(self.tick % 1000) + len(d) / 8
                batch.append(ts, ts + 3, d, m, value, "ppm", "东区", "b1", "s1", "gas")
                self.sent[(d, m, ts)] = value
        self.tick += 1
        return batch

    def run_for(self, seconds: float, every: float = 0.01) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            self.writer.submit(self.batch())
            time.sleep(every)


def stored(history: HistoryBackend, keys: list[tuple[str, str]]) -> Counter[tuple[Key, float]]:
    """Every stored (device, metric, ts) with its value, counted, so a duplicate shows as 2."""
    found: Counter[tuple[Key, float]] = Counter()
    for d, m in keys:
        for p in history.query(d, m, T0, T0 + 10**9):
            found[((d, m, p.ts), p.mean)] += 1
    return found


def exactly_once(sent: dict[Key, float]) -> Counter[tuple[Key, float]]:
    return Counter({(key, value): 1 for key, value in sent.items()})


@pytest.fixture
def duck(tmp_path: Path) -> Iterator[DuckDBHistory]:
    history = DuckDBHistory(tmp_path / "history.duckdb")
    yield history
    history.close()


def test_submitted_readings_reach_duckdb_exactly_once(duck: DuckDBHistory, tmp_path: Path) -> None:
    alarms = Alarms()
    writer = HistoryWriter(
        duck,
        DiskSpool(tmp_path / "spool", 10**7),
        flush_interval_s=0.05,
        batch_max_points=100,
        retry_interval_s=0.1,
        on_alarm=alarms,
    )
    writer.start()
    feeder = Feeder(writer)
    for _ in range(300):  # 1800 readings, in batches of 6, written in slices of at most 100
        writer.submit(feeder.batch())

    assert writer.flush(timeout=20)
    status = writer.status()
    assert writer.stop()

    assert stored(duck, [(d, m) for d in DEVICES for m in METRICS]) == exactly_once(feeder.sent)
    assert (status.written_points, status.queued_points, status.spooled_batches) == (1800, 0, 0)
    assert status.store_up and (status.dropped_points, status.rejected_points) == (0, 0)
    assert status.cache_bytes is not None and status.cache_bytes > 0  # DuckDB's buffer, as /metrics shows
    assert alarms.codes() == []


def test_a_refused_batch_is_counted_and_does_not_hold_back_the_others(
    duck: DuckDBHistory, tmp_path: Path
) -> None:
    writer = HistoryWriter(duck, DiskSpool(tmp_path / "spool", 10**7), flush_interval_s=30)
    writer.start()
    good1 = batch_of("dev-1", "co", [(T0, 1.0)])
    bad = batch_of("dev-bad", "co", [(T0, 1.0), (T0 + 1, 2.0)])
    bad.value[1] = "NaN-as-text"  # type: ignore[call-overload]
    good2 = batch_of("dev-2", "co", [(T0, 3.0)])
    for b in (good1, bad, good2):
        writer.submit(b)  # coalesced into one write, which the store refuses

    assert writer.stop()

    status = writer.status()
    assert (status.written_points, status.rejected_points, status.spooled_batches) == (2, 2, 0)
    assert status.last_error is not None and "duckdb" in status.last_error
    assert [(r.device_id, r.value) for r in duck.latest()] == [("dev-1", 1.0), ("dev-2", 3.0)]


def test_readings_spooled_before_a_shutdown_are_written_on_the_next_start(
    duck: DuckDBHistory, tmp_path: Path
) -> None:
    dead = InfluxHistory(InfluxSettings(url=f"http://127.0.0.1:{free_port()}", timeout_s=1.0))
    first = HistoryWriter(dead, DiskSpool(tmp_path / "spool", 10**7), flush_interval_s=0.02)
    first.start()
    feeder = Feeder(first)
    for _ in range(20):
        first.submit(feeder.batch())
    assert first.stop()
    dead.close()
    assert first.status().spooled_batches >= 1
    assert not first.status().store_up

    second = HistoryWriter(duck, DiskSpool(tmp_path / "spool", 10**7), flush_interval_s=0.02)
    second.start()
    assert second.stop()

    assert second.status().spooled_batches == 0
    assert stored(duck, [(d, m) for d in DEVICES for m in METRICS]) == exactly_once(feeder.sent)


@pytest.mark.influxdb
@pytest.mark.slow
def test_an_influxdb_outage_loses_and_doubles_nothing(influxdb: InfluxServer, tmp_path: Path) -> None:
    alarms = Alarms()
    history = InfluxHistory(influx_settings(influxdb, timeout_s=2.0))
    writer = HistoryWriter(
        history,
        DiskSpool(tmp_path / "spool", 10**8),
        flush_interval_s=0.05,
        batch_max_points=500,
        retry_interval_s=0.2,
        on_alarm=alarms,
    )
    writer.start()
    feeder = Feeder(writer)

    feeder.run_for(1.0)
    influxdb.stop()
    feeder.run_for(2.0)
    during = writer.status()
    influxdb.start()
    feeder.run_for(1.0)
    assert writer.flush(timeout=30)
    after = writer.status()
    writer.stop()

    assert not during.store_up and during.spooled_batches > 0
    assert alarms.codes() == ["history_store_down", "history_store_up"]
    assert after.store_up and (after.spooled_batches, after.spooled_bytes, after.queued_points) == (0, 0, 0)
    assert (after.dropped_points, after.rejected_points) == (0, 0)
    assert stored(history, [(d, m) for d in DEVICES for m in METRICS]) == exactly_once(feeder.sent)
    history.close()


@pytest.mark.influxdb
def test_a_full_spool_raises_an_alarm_counts_what_is_dropped_and_clears(
    influxdb: InfluxServer, tmp_path: Path
) -> None:
    alarms = Alarms()
    history = InfluxHistory(influx_settings(influxdb, timeout_s=2.0))
    batches = [batch_of("dev-1", "co", [(T0 + 10 * i + j, float(j)) for j in range(10)]) for i in range(8)]
    size = len(batches[0].to_json())
    writer = HistoryWriter(
        history,
        DiskSpool(tmp_path / "spool", int(3.5 * size)),
        flush_interval_s=0.02,
        retry_interval_s=0.1,
        on_alarm=alarms,
    )
    influxdb.stop()
    writer.start()
    for b in batches:
        writer.submit(b)
        assert writer.flush(timeout=10)  # one spool file per batch

    full = writer.status()
    influxdb.start()
    assert writer.flush(timeout=10)
    after = writer.status()
    writer.stop()

    assert (full.spooled_batches, full.dropped_points, full.spool_full, full.store_up) == (3, 50, True, False)
    assert alarms.codes() == [
        "history_store_down",
        "history_spool_full",
        "history_store_up",
        "history_spool_ok",
    ]
    assert "dropped" in alarms.calls[1][1]
    assert (after.spooled_batches, after.spool_full) == (0, False)
    assert (after.dropped_points, after.written_points) == (50, 30)
    assert [p.ts for p in history.query("dev-1", "co", T0, T0 + 1000)] == [T0 + i for i in range(30)]
    history.close()
