"""The whole community: a 400,000-device twin, 40,000 readings/s, memory and CPU over the run.

    python -m bench.community [--devices 400000] [--rate 40000] [--seconds 60] [--long]

Generates the twin (towers of 40 floors, 500 devices a floor behind one gateway per floor, a garage
with CO sensors and a fan per tower), measures the twin's memory per device in a process of its own
(the spec, the runtime index and live state, after every device has reported once), then starts its
own Mosquitto and one SafeTwin process (no dashboard, DuckDB history, shipped rule packs) and offers
`--rate` readings/s as gateway batches of one floor's readings for `--seconds` (`--long`: 600 s, the
ten-minute run).  Every `--sample` seconds it records SafeTwin's RSS, its CPU and the machine's idle
CPU, the backlog (published minus handled) and DuckDB's cache (`safetwin_history_cache_bytes`: the
blocks it keeps in memory grow with history up to `store.duckdb_memory_limit_mb`, so memory growth
is also given without it), and once a minute the long-lived objects kept out of garbage collection
(counting them holds SafeTwin's event loop about a second at 400,000 devices).  The last line is JSON.
"""

from __future__ import annotations

import argparse
import gc
import multiprocessing as mp
import os
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import orjson
from tqdm import tqdm

from bench.ingest import SafeTwinProcess, _cpu_seconds, _rss_mb
from bench.rawmqtt import RawPublisher
from bench.throughput import METRIC, NORMAL, accepted, gc_figures, scrape
from bench.twingen import write_twin
from core.contract import Topics
from core.records import ReadingBatch
from tests.fixtures.mosquitto import MosquittoBroker
from twin.loader import load_twin_file
from twin.state import LiveState
from twin.twin import Twin

HEAP_COUNT_EVERY_S = 60.0  # how often a sample also counts the frozen objects


def _measure_twin(path: Path) -> dict[str, Any]:
    """In this process: bytes per device held by the spec, the index and live state (tracemalloc:
    live objects only, not memory the allocator keeps after the JSON parse), and the RSS growth."""
    gc.collect()
    rss0 = _rss_mb(os.getpid())
    tracemalloc.start()
    t = time.monotonic()
    spec = load_twin_file(path)
    load_s = time.monotonic() - t
    gc.collect()
    m1 = tracemalloc.get_traced_memory()[0]
    twin = Twin(spec)
    live = LiveState(twin, offline_after_ms=120_000, clock_skew_warn_ms=300_000)
    gc.collect()
    m2 = tracemalloc.get_traced_memory()[0]
    now = int(time.time() * 1000)
    batch = ReadingBatch()
    for d, place in twin.devices.items():  # every device reports its first two metrics once
        for m, ms in list(place.metrics.items())[:2]:
            batch.append(now, now, d, m, ms.min, ms.unit, place.site, place.building, place.space, place.kind)
        if len(batch) > 50_000:
            live.apply(batch)
            batch = ReadingBatch()
    live.apply(batch)
    del batch
    gc.collect()
    m3 = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    n = len(twin.devices)
    return {
        "devices": n,
        "load_s": round(load_s, 1),
        "spec_bytes_per_device": round(m1 / n),
        "index_and_live_bytes_per_device": round((m2 - m1) / n),
        "live_values_bytes_per_device": round((m3 - m2) / n),
        "twin_bytes_per_device": round(m3 / n),
        "process_rss_growth_bytes_per_device": round((_rss_mb(os.getpid()) - rss0) * 1024 * 1024 / n),
    }


class MachineIdle:
    """Share of the machine's CPU time left idle since the last call (from /proc/stat)."""

    def __init__(self) -> None:
        self._last = self._read()

    @staticmethod
    def _read() -> tuple[int, int]:
        fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
        return fields[3] + fields[4], sum(fields)  # idle + iowait, total

    def percent(self) -> float:
        idle, total = self._read()
        d_idle, d_total = idle - self._last[0], total - self._last[1]
        self._last = (idle, total)
        return 100 * d_idle / d_total if d_total else 0.0


def twin_memory(path: Path) -> dict[str, Any]:
    """`_measure_twin` in a fresh process, so nothing else in this one counts."""
    out = subprocess.run(
        [sys.executable, "-m", "bench.community", "--measure-twin", str(path)],
        check=True,
        capture_output=True,
        text=True,
    )
    return dict(orjson.loads(out.stdout.strip().splitlines()[-1]))


def floor_batches(path: Path) -> list[tuple[str, list[tuple[str, str]]]]:
    """(gateway, [(device, metric)]) for every floor gateway of the generated twin."""
    doc = orjson.loads(path.read_bytes())
    out: dict[str, list[tuple[str, str]]] = {}
    for site in doc["sites"]:
        for b in site["buildings"]:
            for floor in b["floors"]:
                for space in floor["spaces"]:
                    for dev in space["devices"]:
                        gw = dev.get("gateway")
                        if gw and dev["kind"] in METRIC:
                            out.setdefault(gw, []).append((dev["id"], METRIC[dev["kind"]]))
    return list(out.items())


def publisher(
    port: int, floors: list[tuple[str, list[tuple[str, str]]]], rate: int, seconds: float, q: Any
) -> None:
    """Each floor gateway sends its floor's readings in turn, paced to `rate` readings/s."""
    topics = Topics()
    pub = RawPublisher("127.0.0.1", port, f"bench-community-{os.getpid()}")
    per_floor = [
        (
            topics.gateway_batch(gw),
            [orjson.dumps({"device_id": d, "metrics": {m: NORMAL[m]}})[:-1] for d, m in devs],
        )
        for gw, devs in floors
    ]
    sent, k, start = 0, 0, time.monotonic()
    total = int(rate * seconds)
    while sent < total:
        if (time.monotonic() - start) * rate < sent:
            time.sleep(0.001)
            continue
        topic, parts = per_floor[k % len(per_floor)]
        k += 1
        ts = b',"ts":%d}' % (time.time_ns() // 1_000_000)
        body = b'{"readings":[' + b",".join(p + ts for p in parts) + b"]}"
        pub.send(pub.packet(topic, body))
        sent += len(parts)
    elapsed = time.monotonic() - start
    pub.wait_acked(k, timeout=60)
    pub.close()
    q.put({"sent": sent, "seconds": elapsed})


def run(args: argparse.Namespace, work: Path, twin_path: Path, figures: dict[str, Any]) -> None:
    (work / "mosquitto").mkdir()
    broker = MosquittoBroker(workdir=work / "mosquitto")
    broker.start()
    os.environ["SAFETWIN_TWIN__PATH"] = str(twin_path)
    try:
        t = time.monotonic()
        st = SafeTwinProcess(work, broker.port, "duckdb", None, start_timeout_s=900)
        st.http.timeout = httpx.Timeout(120)  # the API answers late while a 400,000-device snapshot runs
        figures["start_s"] = round(time.monotonic() - t, 1)
        figures["rss_mb_at_start"] = round(_rss_mb(st.proc.pid))
        figures["gc_frozen_objects_at_start"] = gc_figures([st], heap_objects=True)["gc_frozen_objects"]
        try:
            figures.update(load(args, st, broker, floor_batches(twin_path)))
        finally:
            t = time.monotonic()
            try:
                st.stop()
            except subprocess.TimeoutExpired:
                st.proc.kill()
                st.proc.wait()
            figures["stop_s"] = round(time.monotonic() - t, 1)
    finally:
        broker.stop()


def load(
    args: argparse.Namespace, st: SafeTwinProcess, broker: MosquittoBroker, floors: list[Any]
) -> dict[str, Any]:
    q: Any = mp.Queue()
    base = accepted(st)
    proc = mp.Process(target=publisher, args=(broker.port, floors, args.rate, args.seconds, q))
    idle = MachineIdle()
    cpu0, t0 = _cpu_seconds(st.proc.pid), time.monotonic()
    proc.start()
    samples: list[dict[str, Any]] = []
    bar = tqdm(total=int(args.seconds), desc="community", unit="s")
    last_cpu, last_t = cpu0, t0
    last_count = t0 - HEAP_COUNT_EVERY_S
    while proc.is_alive():
        time.sleep(args.sample)
        now, cpu = time.monotonic(), _cpu_seconds(st.proc.pid)
        expected = min(args.rate * (now - t0), args.rate * args.seconds)
        try:  # the API may answer late while a whole-twin snapshot holds the event loop
            backlog: int | None = max(0, round(expected - (accepted(st, timeout=2.0) - base)))
            # counting the frozen objects holds the worker's loop ~1 s at 400,000 devices: once a minute
            count = now - last_count >= HEAP_COUNT_EVERY_S
            metrics = scrape(st, timeout=2.0 if not count else 10.0, heap_objects=count)
            cache: float | None = metrics.get("safetwin_history_cache_bytes", 0.0) / 2**20
            frozen: int | None = int(metrics["safetwin_gc_frozen_objects"]) if count else None
            last_count = now if count else last_count
        except httpx.TimeoutException:
            backlog = cache = frozen = None
        samples.append(
            {
                "t_s": round(now - t0, 1),
                "rss_mb": round(_rss_mb(st.proc.pid)),
                "history_cache_mb": None if cache is None else round(cache),
                "gc_frozen_objects": frozen,
                "safetwin_cpu_percent": round(100 * (cpu - last_cpu) / (now - last_t)),
                "machine_idle_percent": round(idle.percent()),
                "backlog_readings": backlog,
            }
        )
        last_cpu, last_t = cpu, now
        bar.update(max(0, min(int(args.seconds), round(now - t0)) - bar.n))
    bar.close()
    result = q.get(timeout=30)
    proc.join()
    deadline = time.monotonic() + 60
    while accepted(st) - base < result["sent"] and time.monotonic() < deadline:
        time.sleep(0.1)
    handled = accepted(st) - base
    elapsed = time.monotonic() - t0
    steady = samples[len(samples) // 4 :] or samples
    return {
        "offered_readings_per_s": round(result["sent"] / result["seconds"]),
        "handled_readings": handled,
        "all_handled": handled >= result["sent"],
        "safetwin_cpu_percent_mean": round(100 * (_cpu_seconds(st.proc.pid) - cpu0) / elapsed),
        "machine_idle_percent_mean": round(statistics.fmean(s["machine_idle_percent"] for s in samples)),
        "rss_mb_first_quarter_end": steady[0]["rss_mb"],
        "rss_mb_end": steady[-1]["rss_mb"],
        "rss_growth_mb_per_min_after_warmup": _growth(steady, lambda s: s["rss_mb"]),
        "history_cache_mb_end": steady[-1]["history_cache_mb"],
        "rss_without_history_cache_growth_mb_per_min_after_warmup": _growth(
            [s for s in steady if s["history_cache_mb"] is not None],
            lambda s: s["rss_mb"] - s["history_cache_mb"],
        ),
        **gc_figures([st], heap_objects=True),
        "max_backlog_readings": max((s["backlog_readings"] or 0) for s in samples) if samples else 0,
        "api_timeouts": sum(1 for s in samples if s["backlog_readings"] is None),
        "samples": samples,
    }


def _growth(samples: list[dict[str, Any]], value: Callable[[dict[str, Any]], float]) -> float:
    """MB a minute from the first sample to the last."""
    if len(samples) < 2:
        return 0.0
    minutes = float(samples[-1]["t_s"] - samples[0]["t_s"]) / 60
    return round((value(samples[-1]) - value(samples[0])) / max(minutes, 1e-9), 1)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--devices", type=int, default=400_000)
    p.add_argument("--rate", type=int, default=40_000, help="readings/s offered")
    p.add_argument("--seconds", type=float, default=60.0)
    p.add_argument("--long", action="store_true", help="the ten-minute run")
    p.add_argument("--sample", type=float, default=5.0, help="seconds between samples")
    p.add_argument("--measure-twin", type=Path, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.measure_twin:
        print(orjson.dumps(_measure_twin(args.measure_twin)).decode())
        return 0
    if args.long:
        args.seconds = 600.0
    figures: dict[str, Any] = {"bench": "community", "cores": os.cpu_count(), "seconds": args.seconds}
    with tempfile.TemporaryDirectory(prefix="bench-community-") as tmp:
        work = Path(tmp)
        twin_path = write_twin(work / "twin.json", args.devices)
        gc.collect()
        figures["twin_memory"] = twin_memory(twin_path)
        figures["devices"] = figures["twin_memory"]["devices"]
        print(f"twin memory: {figures['twin_memory']}", flush=True)
        run(args, work, twin_path, figures)
    f = figures
    print(
        f"{f['devices']} devices: offered {f['offered_readings_per_s']} readings/s for {args.seconds} s, "
        f"all handled: {f['all_handled']}, SafeTwin CPU {f['safetwin_cpu_percent_mean']} % of a core, "
        f"machine idle {f['machine_idle_percent_mean']} %, RSS {f['rss_mb_first_quarter_end']} -> "
        f"{f['rss_mb_end']} MB ({f['rss_growth_mb_per_min_after_warmup']} MB/min after warm-up; "
        f"{f['rss_without_history_cache_growth_mb_per_min_after_warmup']} MB/min without DuckDB's cache, "
        f"{f['history_cache_mb_end']} MB at the end), "
        f"twin {f['twin_memory']['twin_bytes_per_device']} B/device"
    )
    print(orjson.dumps(figures).decode())
    return 0


if __name__ == "__main__":
    sys.exit(main())
