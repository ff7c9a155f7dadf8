"""The disk spool: order across restarts, its bound, and files it cannot read."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from core.records import ReadingBatch
from store.spool import DiskSpool
from tests.store.support import T0, batch_of


def _drain(spool: DiskSpool) -> list[ReadingBatch]:
    out = []
    while (item := spool.peek_oldest()) is not None:
        seq, batch = item
        out.append(batch)
        spool.remove(seq)
    return out


def test_batches_come_back_oldest_first_across_a_restart(tmp_path: Path) -> None:
    batches = [batch_of(f"dev-{i}", "co", [(T0 + i, float(i))], site="东区") for i in range(12)]
    first = DiskSpool(tmp_path / "spool", 10**6)
    for b in batches[:7]:
        assert first.append(b)
    _, oldest = first.peek_oldest() or (0, None)
    assert oldest == batches[0]

    second = DiskSpool(tmp_path / "spool", 10**6)  # a new process finds the files
    assert second.count == 7
    assert second.size_bytes == first.size_bytes
    for b in batches[7:]:
        assert second.append(b)

    assert _drain(second) == batches
    assert (second.count, second.size_bytes) == (0, 0)
    assert list((tmp_path / "spool").iterdir()) == []


def test_append_refuses_what_would_pass_the_bound(tmp_path: Path) -> None:
    batch = batch_of("dev-1", "co", [(T0 + i, 1.0) for i in range(10)])
    size = len(batch.to_json())
    spool = DiskSpool(tmp_path, max_bytes=3 * size + size // 2)

    assert [spool.append(batch) for _ in range(5)] == [True, True, True, False, False]
    assert (spool.count, spool.size_bytes) == (3, 3 * size)
    spool.remove(1)
    assert spool.append(batch)


def test_a_corrupt_file_is_set_aside_and_the_rest_replayed(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    spool = DiskSpool(tmp_path, 10**6)
    for i in range(3):
        spool.append(batch_of(f"dev-{i}", "co", [(T0, 1.0)]))
    second = sorted(tmp_path.glob("*.json"))[1]
    second.write_bytes(second.read_bytes()[:20])  # torn write, e.g. a full disk
    (tmp_path / "0000000000000009.json").write_bytes(b'{"ts": [1, 2], "value": [1.0]}')
    (tmp_path / "0000000000000004.json.tmp").write_bytes(b"unfinished")

    reopened = DiskSpool(tmp_path, 10**6)
    with caplog.at_level(logging.ERROR, logger="store.spool"):
        devices = [b.device_id for b in _drain(reopened)]

    assert devices == [["dev-0"], ["dev-2"]]
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "0000000000000002.json.corrupt",
        "0000000000000009.json.corrupt",
    ]
    assert len([r for r in caplog.records if "moved aside" in r.getMessage()]) == 2
    assert reopened.append(batch_of("dev-new", "co", [(T0, 1.0)]))
    assert (tmp_path / "0000000000000010.json").exists()  # numbering goes on after the highest seen
