"""Anomaly rules: an IsolationForest trained in a worker process from a real DuckDB history."""

from __future__ import annotations

import math
import os
import random
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from core.alarms import SignalKind
from core.records import ReadingBatch
from rules.engine import RuleEngine
from store.duckdb_store import DuckDBHistory
from tests.rules.support import T0, engine, feed, make_twin
from twin.twin import Twin

pytestmark = pytest.mark.slow  # a spawned process imports scikit-learn: a few seconds

MIN = 60_000
DAY = 1440 * MIN
BUCKET = 5 * MIN
START = T0 - T0 % BUCKET  # buckets are aligned to the epoch


def normal(t: int, rng: random.Random) -> float:
    """Garage CO: a daily wave around 5 ppm with sensor noise."""
    return 5 + 2 * math.sin(2 * math.pi * (t % DAY) / DAY) + rng.gauss(0, 0.4)


def write_history(history: DuckDBHistory, twin: Twin, days: int) -> None:
    rng = random.Random(7)
    batch = ReadingBatch()
    for dev in ("co-1", "co-2", "co-7"):
        p = twin.devices[dev]
        for t in range(START - days * DAY, START, MIN):
            batch.append(t, t, dev, "co", normal(t, rng), "ppm", p.site, p.building, p.space, p.kind.value)
    history.write(batch)


@pytest.fixture
def trained(tmp_path: Path) -> Iterator[RuleEngine]:
    twin = make_twin()
    history = DuckDBHistory(tmp_path / "history.duckdb")
    history.open()
    write_history(history, twin, days=3)
    rule = {
        "id": "anomaly",
        "type": "anomaly",
        "category": "anomaly",
        "target": {"device_kinds": ["co_sensor"]},
        "bucket_s": 300,
        "train_days": 3,
        "min_train_rows": 200,
        "contamination": 0.01,
    }
    eng = engine([rule], twin, history=history)
    deadline = time.monotonic() + 90
    status: dict[str, Any] = {}
    while time.monotonic() < deadline:
        assert eng.tick(START) == []  # nothing to score yet, and ticking never waits for training
        status = eng.status()["rules"]["anomaly"]["models"]["co_sensor"]
        if status["trained_ts"] is not None:
            break
        time.sleep(0.05)
    assert status["trained_ts"] == START, status
    assert status["trained_pid"] != os.getpid()  # fitted in a worker process
    assert status["rows"] >= 3 * (3 * 288 - 2)
    yield eng
    eng.close()
    history.close()


def bucket(eng: RuleEngine, start: int, values: list[float]) -> list[object]:
    out: list[object] = []
    for i, v in enumerate(values):
        out += feed(eng, [("co-1", "co", v, start + i * MIN)])
    return out


def test_an_injected_outlier_is_flagged_with_the_features_that_drove_it(trained: RuleEngine) -> None:
    eng, rng = trained, random.Random(3)
    bucket(eng, START, [normal(START + i * MIN, rng) for i in range(5)])
    bucket(eng, START + BUCKET, [normal(START + BUCKET + i * MIN, rng) for i in range(5)])
    bucket(eng, START + 2 * BUCKET, [normal(START + 2 * BUCKET, rng)])  # completes the 2nd bucket
    assert eng.tick(START + 2 * BUCKET + MIN) == []  # a normal bucket: nothing to say

    bucket(eng, START + 2 * BUCKET + MIN, [40, 65, 70, 75])  # CO climbs far above its daily wave
    bucket(eng, START + 3 * BUCKET, [normal(START + 3 * BUCKET, rng)])
    [sig] = eng.tick(START + 3 * BUCKET + MIN)
    assert (sig.kind, sig.severity, sig.source_id, sig.category) == (
        SignalKind.FIRING,
        "warning",
        "co-1",
        "anomaly",
    )
    ev = sig.evidence
    assert ev["score"] < 0 and ev["threshold"] == 0.0
    assert ev["bucket_start_ts"] == START + 2 * BUCKET
    assert set(ev["features"]) == {"co.mean", "co.min", "co.max", "co.delta"}
    drivers = {d["feature"]: d for d in ev["drivers"]}
    assert len(drivers) == 3 and all(d["z"] > 10 for d in drivers.values())
    assert drivers["co.max"]["value"] == 75 and drivers["co.max"]["typical"] < 10  # what drove it
    assert ev["model"]["kind"] == "co_sensor" and ev["model"]["rows"] > 2000
    assert "Unusual readings from B1车库CO探测器01" in sig.message

    bucket(eng, START + 3 * BUCKET + MIN, [normal(START + 3 * BUCKET + i * MIN, rng) for i in range(1, 5)])
    bucket(eng, START + 4 * BUCKET, [normal(START + 4 * BUCKET + i * MIN, rng) for i in range(5)])
    bucket(eng, START + 5 * BUCKET, [normal(START + 5 * BUCKET, rng)])
    sigs = eng.tick(START + 5 * BUCKET + MIN)
    assert [s.kind for s in sigs] == [SignalKind.RESOLVED]


def test_without_history_the_rule_waits_quietly() -> None:
    eng = engine([{"id": "anomaly", "type": "anomaly", "category": "anomaly"}])
    bucket(eng, START, [5.0] * 12)
    assert eng.tick(START + 15 * MIN) == []
    assert eng.status()["rules"]["anomaly"]["models"]["co_sensor"]["trained_ts"] is None
    eng.close()
