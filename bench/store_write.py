"""Write rate of the history backends, without MQTT: one process calling `backend.write(batch)`.

    python -m bench.store_write [--points 500000] [--repeats 3] [--backends duckdb,influxdb]

DuckDB writes into a file in a temp folder; InfluxDB is a real influxd started in a temp folder, as the
test fixture starts it.  Each repeat writes a fresh batch (new timestamps) of `--points` readings of
2000 devices x 5 metrics.  For InfluxDB the line-protocol serializer alone is timed too, since it runs
in the writer thread.  Prints one line per figure, and as its last line a JSON object of all figures.
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

from core.records import ReadingBatch
from core.settings import InfluxSettings
from store.base import HistoryBackend
from store.duckdb_store import DuckDBHistory
from store.influx import InfluxHistory, to_line_protocol
from tests.fixtures.influx import InfluxServer

T0 = 1_767_225_600_000
METRICS = [("co", "ppm"), ("ch4", "%LEL"), ("o2", "%vol"), ("temp", "C"), ("rh", "%")]


def make_batch(points: int, start_ts: int, devices: int = 2000) -> ReadingBatch:
    """`points` readings of `devices` devices x 5 metrics, one reading per device and metric per second."""
    rng = random.Random(start_ts)
    batch = ReadingBatch()
    per_tick = devices * len(METRICS)
    for i in range(points):
        tick, slot = divmod(i, per_tick)
        device, m = divmod(slot, len(METRICS))
        metric, unit = METRICS[m]
        ts = start_ts + tick * 1000
        batch.append(
            ts,
            ts + 40,
            f"gas-{device:05d}",
            metric,
            round(rng.uniform(0, 100), 2),
            unit,
            f"site-{device % 7}",
            f"楼-{device % 40}",
            f"space-{device % 400}",
            "gas_detector",
        )
    return batch


def time_writes(backend: HistoryBackend, points: int, repeats: int) -> list[float]:
    """Points per second of each repeat of one `write` of a fresh batch."""
    rates = []
    for r in range(repeats):
        batch = make_batch(points, T0 + r * 10_000_000)
        started = time.perf_counter()
        backend.write(batch)
        rates.append(points / (time.perf_counter() - started))
    return rates


def time_serializer(points: int, repeats: int) -> list[float]:
    batch = make_batch(points, T0)
    rates = []
    for _ in range(repeats):
        started = time.perf_counter()
        to_line_protocol(batch)
        rates.append(points / (time.perf_counter() - started))
    return rates


def bench_duckdb(workdir: Path, points: int, repeats: int) -> dict[str, Any]:
    backend = DuckDBHistory(workdir / "history.duckdb")
    backend.open()
    try:
        return {"write_points_per_s": time_writes(backend, points, repeats)}
    finally:
        backend.close()


def bench_influxdb(workdir: Path, points: int, repeats: int) -> dict[str, Any]:
    server = InfluxServer(workdir=workdir / "influxdb")
    server.workdir.mkdir()
    server.start()
    backend = InfluxHistory(InfluxSettings(url=server.url, database="bench", timeout_s=120))
    try:
        backend.open()
        return {
            "serialize_points_per_s": time_serializer(points, repeats),
            "write_points_per_s": time_writes(backend, points, repeats),
        }
    finally:
        backend.close()
        server.stop()


BENCHES: dict[str, Callable[[Path, int, int], dict[str, Any]]] = {
    "duckdb": bench_duckdb,
    "influxdb": bench_influxdb,
}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--points", type=int, default=500_000, help="readings per write")
    p.add_argument("--repeats", type=int, default=3, help="writes per backend")
    p.add_argument("--backends", default="duckdb,influxdb", help="comma-separated: duckdb,influxdb")
    args = p.parse_args()
    results: dict[str, Any] = {"points_per_write": args.points, "repeats": args.repeats}
    for name in args.backends.split(","):
        with tempfile.TemporaryDirectory(prefix=f"safetwin-bench-{name}-") as tmp:
            figures = BENCHES[name](Path(tmp), args.points, args.repeats)
        summary = {key: round(statistics.median(rates)) for key, rates in figures.items()}
        results[name] = summary | {"runs": {k: [round(r) for r in v] for k, v in figures.items()}}
        for key, median in summary.items():
            print(
                f"{name:9s} {key.removesuffix('_points_per_s'):9s} {median:>12,} points/s (median of "
                f"{args.repeats} x {args.points:,} points)",
                flush=True,
            )
    print(orjson.dumps(results).decode())


if __name__ == "__main__":
    main()
