"""DuckDB history specifics: a file that persists, Arrow inserts that are atomic, readers beside a writer."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from core.errors import StoreError
from core.records import ReadingBatch
from store.duckdb_store import ARROW_SLICE_ROWS, DuckDBHistory
from tests.store.support import T0, batch_of


def test_history_survives_a_reopen(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b" / "history.duckdb"
    first = DuckDBHistory(path)
    first.open()
    first.write(batch_of("dev-1", "co", [(T0, 1.0), (T0 + 1, 2.0)]))
    first.close()

    second = DuckDBHistory(path)
    second.open()
    try:
        assert [p.mean for p in second.query("dev-1", "co", T0, T0 + 10)] == [1.0, 2.0]
    finally:
        second.close()


def test_the_cache_stays_within_the_memory_limit_as_history_grows(tmp_path: Path) -> None:
    history = DuckDBHistory(tmp_path / "h.duckdb", memory_limit_mb=24)
    history.open()
    try:
        sizes = []
        for part in range(48):  # about 2.4 million readings; all cached they would take ~30 MB
            batch = ReadingBatch()
            for i in range(50_000):  # the history writer's largest write (store.batch_max_points)
                n = part * 50_000 + i
                batch.append(T0 + n, T0 + n, f"dev-{n % 40_000}", "co", n % 97 / 7, "ppm", "s", "b", "x", "k")
            history.write(batch)
            sizes.append(history.cache_bytes() or 0)
        assert min(sizes) > 0  # DuckDB keeps recent pages in memory...
        assert max(sizes) <= 24 * 2**20  # ...up to the bound, and writes the rest to the file
        assert len(history.query("dev-7", "co", T0, T0 + 2_400_000)) == 60, "every reading is in the file"
    finally:
        history.close()


def test_a_batch_with_a_wrong_type_is_refused_whole_and_not_retried(tmp_path: Path) -> None:
    history = DuckDBHistory(tmp_path / "h.duckdb")
    batch = batch_of("dev-1", "co", [(T0, 1.0), (T0 + 1, 2.0)])
    batch.value[1] = "not a number"  # type: ignore[call-overload]
    try:
        with pytest.raises(StoreError) as caught:
            history.write(batch)
        assert not caught.value.retryable
        assert history.query("dev-1", "co", T0, T0 + 10) == []
    finally:
        history.close()


def test_a_large_batch_is_converted_in_slices_and_written_whole(tmp_path: Path) -> None:
    history = DuckDBHistory(tmp_path / "h.duckdb")
    n = ARROW_SLICE_ROWS * 2 + 37  # three slices, the last one short
    batch = batch_of("dev-1", "co", [(T0 + i, float(i)) for i in range(n)])
    try:
        history.write(batch)
        assert [p.mean for p in history.query("dev-1", "co", T0, T0 + n)] == [float(i) for i in range(n)]
        bad = batch_of("dev-2", "co", [(T0 + i, float(i)) for i in range(n)])
        bad.value[-1] = "not a number"  # type: ignore[call-overload]
        with pytest.raises(StoreError):
            history.write(bad)  # a wrong value in the last slice: none of the earlier slices is written
        assert history.query("dev-2", "co", T0, T0 + n) == []
    finally:
        history.close()


def test_queries_from_other_threads_see_whole_batches_while_the_writer_writes(tmp_path: Path) -> None:
    history = DuckDBHistory(tmp_path / "h.duckdb")
    history.open()
    per_batch, batches = 2000, 40
    done = threading.Event()
    seen: list[int] = []
    errors: list[BaseException] = []

    def reader() -> None:
        try:
            while not done.is_set():
                buckets = history.query("dev-1", "co", T0, T0 + 10**9, bucket_ms=10**9)
                count = buckets[0].count if buckets else 0
                assert count % per_batch == 0, f"saw part of a batch: {count}"
                seen.append(count)
                history.latest(["dev-1"])
        except BaseException as err:
            errors.append(err)

    readers = [threading.Thread(target=reader) for _ in range(3)]
    for t in readers:
        t.start()
    try:
        for b in range(batches):
            history.write(
                batch_of("dev-1", "co", [(T0 + b * per_batch + i, float(i)) for i in range(per_batch)])
            )
    finally:
        done.set()
        for t in readers:
            t.join()

    assert errors == []
    assert len(seen) > 3
    [total] = history.query("dev-1", "co", T0, T0 + 10**9, bucket_ms=10**9)
    assert total.count == per_batch * batches
    history.close()


def test_a_closed_history_reopens_on_use(tmp_path: Path) -> None:
    history = DuckDBHistory(tmp_path / "h.duckdb")
    history.write(batch_of("dev-1", "co", [(T0, 1.0)]))
    history.close()

    assert len(history.latest()) == 1
    history.write(ReadingBatch())
    history.close()


def test_bucket_size_must_be_positive(tmp_path: Path) -> None:
    history = DuckDBHistory(tmp_path / "h.duckdb")
    with pytest.raises(ValueError, match="bucket_ms"):
        history.query("d", "m", 0, 1, bucket_ms=0)
    history.close()
