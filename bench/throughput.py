"""The highest sustainable rate through ingest, rules and history, with the latency to the fan command.

    python -m bench.throughput [--seconds 6] [--single 5000,10000,...] [--batched 50000,...]

Starts its own Mosquitto (`set_tcp_nodelay true`) and one SafeTwin process (no dashboard, DuckDB
history, the shipped rule packs plus a bench rule: CO above 100 ppm in a garage raises an alarm at
once and starts the garage's exhaust fan).  A paced publisher process offers each rate for
`--seconds` as single-reading messages, then as gateway batches of `--batch` readings, over a
generated twin (towers with a garage each).  A few times a second one garage sensor reads 150 ppm;
the latency is from that message's publication to the fan command on the wire (received here), or,
if rules drive no actuator in this build, to the alarm's announcement (the JSON says which).

A rate is sustainable when the publisher kept it, SafeTwin had handled every reading within a second
of the last publication (no growing backlog), and every spike got its command.  Each mode stops at
its first unsustainable rate.  The raw broker rate (the same publisher to `mosquitto_sub`, QoS 1) is
measured in the same run as the ceiling.  The last line is JSON.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import orjson
import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion
from tqdm import tqdm

from bench.ingest import MOSQUITTO_SUB, SafeTwinProcess, _cpu_seconds, _rss_mb
from bench.rawmqtt import RawPublisher
from bench.twingen import write_twin
from core.contract import Topics
from tests.fixtures.mosquitto import MosquittoBroker
from twin.loader import load_twin_file
from twin.twin import Twin

PACK = """
pack: bench-throughput
title: Bench
rules:
  - id: bench-garage-co
    name: Bench garage CO
    category: gas
    type: threshold
    metric: co
    direction: above
    target: {device_kinds: [co_sensor], space_kinds: [basement_garage]}
    citation: {standard: none, clause: bench, title: benchmark rule}
    levels:
      - {severity: alarm, trigger: 100, clear: 50, on_delay_s: 0, off_delay_s: 0}
    actions:
      - {device_kind: fan, params: {on: true}, stop_params: {on: false}}
"""
METRIC = {"co_sensor": "co", "ch4_sensor": "ch4", "temp_humidity": "temperature"}
NORMAL = {"co": 4.0, "ch4": 1.0, "temperature": 24.0}
SPIKES_PER_S = 10  # enough samples for a p99 per level; each is a new alarm, a stress in itself
# the bench twin's towers: 4 floors of 25 devices, a garage of 5 CO sensors and a fan
DEVICES_PER_GARAGE = 106


@dataclass
class Plan:
    """What the publisher sends: normal readings round-robin, and spikes on garage sensors."""

    port: int
    readers: list[tuple[str, str]]  # device, metric
    spike_devices: list[str]  # one garage sensor per spike, never reused in a run
    rate: int
    seconds: float
    batch: int
    spikes_per_s: float
    gateway_of: dict[str, str]  # device -> the gateway of its site, which sends its batches


def publisher(plan: Plan, out: Any) -> None:
    """Offer `plan.rate` readings/s; report how many were sent and when each spike left."""
    topics = Topics()
    pub = RawPublisher("127.0.0.1", plan.port, f"bench-tp-{os.getpid()}")
    spikes: list[tuple[str, float]] = []
    spike_at = {int(k * plan.rate / plan.spikes_per_s) for k in range(int(plan.seconds * plan.spikes_per_s))}
    spike_iter = iter(plan.spike_devices)
    readers, n_readers = plan.readers, len(plan.readers)
    sent, n_packets, start = 0, 0, time.monotonic()
    pending: dict[str, list[tuple[str, str, float]]] = {}  # gateway -> readings not yet sent
    total = int(plan.rate * plan.seconds)
    while sent < total:
        due = min(total, int((time.monotonic() - start + 0.002) * plan.rate)) - sent
        if due <= 0:
            time.sleep(0.0005)
            continue
        now = time.time_ns() // 1_000_000
        rows: list[tuple[str, str, float]] = []
        spiked: list[str] = []
        for i in range(sent, sent + due):
            if i in spike_at and (dev := next(spike_iter, None)) is not None:
                rows.append((dev, "co", 150.0))
                spiked.append(dev)
            else:
                dev, metric = readers[i % n_readers]
                rows.append((dev, metric, NORMAL[metric]))
        packets = _packets(pub, topics, rows, now, plan.batch, plan.gateway_of, pending, spiked)
        pub.send(b"".join(packets))
        n_packets += len(packets)
        t_sent = time.time()
        spikes.extend((dev, t_sent) for dev in spiked)
        sent += due
    rest = _flush_all(pub, topics, pending, time.time_ns() // 1_000_000)
    pub.send(b"".join(rest))
    n_packets += len(rest)
    elapsed = time.monotonic() - start
    # the spiked sensors read normal again, so their alarms clear
    clear = _packets(
        pub, topics, [(d, "co", 5.0) for d, _ in spikes], time.time_ns() // 1_000_000, 1, {}, {}, []
    )
    pub.send(b"".join(clear))
    pub.wait_acked(n_packets + len(clear), timeout=60)
    pub.close()
    out.put({"sent": sent + len(spikes), "seconds": elapsed, "spikes": spikes})


def _packets(
    pub: RawPublisher,
    topics: Topics,
    rows: list[tuple[str, str, float]],
    ts: int,
    batch: int,
    gateway_of: dict[str, str],
    pending: dict[str, list[tuple[str, str, float]]],
    urgent: list[str],
) -> list[bytes]:
    """PUBLISH packets of the rows: one per reading, or gateway batches of `batch` readings.

    Each site's readings go out through its gateway, as a site concentrator sends them, so that
    partitioned workers each get their own sites' batches.  A gateway sends once it holds `batch`
    readings, or at once when one of them is a spike (`urgent`), as a gateway forwards an alarm value.
    """
    if batch <= 1:
        return [
            pub.packet(topics.telemetry(d), orjson.dumps({"ts": ts, "metrics": {m: v}})) for d, m, v in rows
        ]
    parts = []
    hurry = {gateway_of[d] for d in urgent}
    for row in rows:
        gw = gateway_of[row[0]]
        held = pending.setdefault(gw, [])
        held.append(row)
        if len(held) >= batch:
            parts.append(_batch_packet(pub, topics, gw, pending.pop(gw), ts))
    for gw in hurry:
        if pending.get(gw):
            parts.append(_batch_packet(pub, topics, gw, pending.pop(gw), ts))
    return parts


def _batch_packet(
    pub: RawPublisher, topics: Topics, gateway: str, rows: list[tuple[str, str, float]], ts: int
) -> bytes:
    readings = [{"device_id": d, "ts": ts, "metrics": {m: v}} for d, m, v in rows]
    return pub.packet(topics.gateway_batch(gateway), orjson.dumps({"readings": readings}))


def _flush_all(
    pub: RawPublisher, topics: Topics, pending: dict[str, list[tuple[str, str, float]]], ts: int
) -> list[bytes]:
    out = [_batch_packet(pub, topics, gw, rows, ts) for gw, rows in pending.items() if rows]
    pending.clear()
    return out


@dataclass
class Watcher:
    """Receives fan commands and alarm announcements; first arrival per fan / per garage sensor.

    It answers each command as a working fan does (`delivered`, then `succeeded`, and its new state,
    retained): without answers SafeTwin would retry every command and raise "Actuator failed" for
    every fan, a load no healthy site produces.
    """

    port: int
    fan_of: dict[str, str]  # garage sensor -> the fan of its garage
    commands: dict[str, float] = field(default_factory=dict)
    alarms: dict[str, float] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self) -> None:
        c = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"bench-tp-watch-{os.getpid()}")
        c.on_message = self._on_message
        c.connect("127.0.0.1", self.port)
        self.topics = Topics()
        root = self.topics.root
        c.subscribe([(f"{root}/command/+", 1), (f"{root}/alarm/+", 1)])
        self.client = c
        c.loop_start()

    def _on_message(self, _c: paho.Client, _u: object, msg: paho.MQTTMessage) -> None:
        now = time.time()
        kind, ident = msg.topic.split("/")[-2:]
        with self.lock:
            if kind == "command":
                self.commands.setdefault(ident, now)
                self._answer(ident, orjson.loads(msg.payload))
                return
            alarm = orjson.loads(msg.payload)
            if alarm.get("state") == "active" and alarm.get("rule_id") == "bench-garage-co":
                self.alarms.setdefault(alarm["source_id"], now)

    def _answer(self, fan: str, command: dict[str, Any]) -> None:
        ts = int(time.time() * 1000)
        cid = command["correlation_id"]
        for status in ("delivered", "succeeded"):
            ack = {"v": 1, "correlation_id": cid, "status": status, "ts": ts, "detail": None}
            self.client.publish(self.topics.ack(fan), orjson.dumps(ack), qos=1)
        state = {"v": 1, "ts": ts, "state": command.get("params", {})}
        self.client.publish(self.topics.state(fan), orjson.dumps(state), qos=1, retain=True)

    def latencies(self, spikes: list[tuple[str, float]]) -> tuple[str, list[float], int]:
        """(event kind, latencies in ms, spikes without an event)."""
        with self.lock:
            use_commands = bool(self.commands)
            got = self.commands if use_commands else self.alarms
            lat, missing = [], 0
            for dev, t in spikes:
                key = self.fan_of[dev] if use_commands else dev
                if key in got:
                    lat.append((got[key] - t) * 1000)
                else:
                    missing += 1
        return ("fan_command" if use_commands else "alarm_announcement"), lat, missing

    def stop(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 1)


def accepted(st: SafeTwinProcess, timeout: float | None = None) -> int:
    """Readings SafeTwin's ingest has accepted so far (from its API)."""
    r = st.http.get("/status", timeout=timeout) if timeout is not None else st.http.get("/status")
    return int(r.json()["ingest"]["accepted_readings"])


def accepted_all(workers: list[SafeTwinProcess]) -> int:
    return sum(accepted(w) for w in workers)


def cpu_all(workers: list[SafeTwinProcess]) -> float:
    return sum(_cpu_seconds(w.proc.pid) for w in workers)


def raw_broker_rate(port: int, count: int = 200_000) -> float:
    """QoS 1 single messages/s from the same raw publisher to mosquitto_sub: the ceiling."""
    sub = subprocess.Popen(
        [MOSQUITTO_SUB, "-h", "127.0.0.1", "-p", str(port), "-q", "1", "-C", str(count), "-t", "ceiling/#"],
        stdout=subprocess.DEVNULL,
    )
    time.sleep(0.5)
    pub = RawPublisher("127.0.0.1", port, "bench-tp-ceiling")
    body = orjson.dumps({"ts": int(time.time() * 1000), "metrics": {"co": 4.0}})
    chunk = b"".join(pub.packet(f"ceiling/telemetry/d{i % 1000}", body) for i in range(1000))
    start = time.time()
    for _ in range(count // 1000):
        pub.send(chunk)
    sub.wait(timeout=300)
    rate = count / (time.time() - start)
    pub.close()
    return rate


def run_level(
    workers: list[SafeTwinProcess],
    broker: MosquittoBroker,
    watcher: Watcher,
    plan: Plan,
    catch_up_s: float,
    profile: Path | None = None,
) -> dict[str, Any]:
    base = accepted_all(workers)
    spies = [_profiler(w, plan, profile, i) for i, w in enumerate(workers)] if profile is not None else []
    cpu0, bcpu0, t0 = cpu_all(workers), _cpu_seconds(broker.proc.pid), time.monotonic()  # type: ignore[union-attr]
    q: Any = mp.Queue()
    proc = mp.Process(target=publisher, args=(plan, q))
    proc.start()
    result = q.get(timeout=plan.seconds + 120)
    proc.join()
    done_at = time.monotonic()
    for spy in spies:
        spy.wait(timeout=60)
    behind = -1
    while time.monotonic() - done_at < catch_up_s + 5:
        behind = base + result["sent"] - accepted_all(workers)
        if behind <= 0:
            break
        time.sleep(0.05)
    lag_s = time.monotonic() - done_at
    time.sleep(0.3)  # last commands on the wire
    elapsed = time.monotonic() - t0
    event, lat, missing = watcher.latencies(result["spikes"])
    offered = result["sent"] / max(result["seconds"], 1e-9)
    kept_pace = offered >= 0.97 * plan.rate
    return {
        "rate": plan.rate,
        "readings_per_message": plan.batch,
        "offered_readings_per_s": round(offered),
        "caught_up_after_s": round(lag_s, 2),
        "sustainable": kept_pace and behind <= 0 and lag_s <= catch_up_s and missing == 0,
        "event": event,
        "spikes": len(result["spikes"]),
        "missing_events": missing,
        "p50_ms": pct(lat, 0.5),
        "p99_ms": pct(lat, 0.99),
        "max_ms": round(max(lat), 1) if lat else None,
        "workers": len(workers),
        "safetwin_cpu_percent": round(100 * (cpu_all(workers) - cpu0) / elapsed),
        "broker_cpu_percent": round(100 * (_cpu_seconds(broker.proc.pid) - bcpu0) / elapsed),  # type: ignore[union-attr]
        "safetwin_rss_mb": round(sum(_rss_mb(w.proc.pid) for w in workers)),
        **gc_figures(workers),
    }


def scrape(w: SafeTwinProcess, timeout: float = 10, heap_objects: bool = False) -> dict[str, float]:
    """A worker's /metrics as {'name{labels}': value}; `heap_objects` adds the frozen-object count,
    which holds the worker's event loop while it walks them (0.2 s at 74,000 devices)."""
    query = "?heap_objects=true" if heap_objects else ""
    text = httpx.get(f"http://127.0.0.1:{w.port}/metrics{query}", timeout=timeout).text
    pairs = (line.rpartition(" ") for line in text.splitlines() if line and not line.startswith("#"))
    return {name: float(value) for name, _, value in pairs}


def gc_figures(workers: list[SafeTwinProcess], heap_objects: bool = False) -> dict[str, Any]:
    """Garbage collections since SafeTwin started, from its /metrics (summed over workers; the
    longest pause of each generation is the worst worker's); the frozen objects with `heap_objects`."""
    runs, longest, total, frozen = [0, 0, 0], [0.0, 0.0, 0.0], 0.0, 0
    for w in workers:
        for name, value in scrape(w, heap_objects=heap_objects).items():
            if name.startswith("safetwin_gc_longest_pause_seconds{"):
                g = int(name.split('"')[1])
                longest[g] = max(longest[g], value)
            elif name.startswith("safetwin_gc_collections_total{"):
                runs[int(name.split('"')[1])] += int(value)
            elif name == "safetwin_gc_pause_seconds_total":
                total += value
            elif name == "safetwin_gc_frozen_objects":
                frozen += int(value)
    return {
        "gc_longest_pause_ms": round(max(longest) * 1000, 1),
        "gc_longest_pause_ms_by_generation": [round(x * 1000, 1) for x in longest],
        "gc_collections_by_generation": runs,
        "gc_total_s": round(total, 2),
        **({"gc_frozen_objects": frozen} if heap_objects else {}),
    }


def _profiler(st: SafeTwinProcess, plan: Plan, prefix: Path, worker: int) -> subprocess.Popen[bytes]:
    """py-spy sampling a worker's threads while this level is offered (collapsed stacks, one file)."""
    mode = "single" if plan.batch == 1 else "batched"
    out = f"{prefix}-{mode}-{plan.rate}{f'-w{worker}' if worker else ''}.txt"
    cmd = [
        str(Path(sys.executable).with_name("py-spy")),
        "record",
        "--pid",
        str(st.proc.pid),
        "--threads",
        "--gil",
    ]
    cmd += ["--rate", "250", "--format", "raw"]
    cmd += ["--duration", str(max(1, int(plan.seconds))), "-o", out]
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _report(key: str, r: dict[str, Any]) -> None:
    tqdm.write(
        f"{key:7s} {r['rate']:>7}/s offered {r['offered_readings_per_s']:>7}/s: "
        f"{'sustained' if r['sustainable'] else 'NOT sustained'}, caught up {r['caught_up_after_s']} s, "
        f"{r['event']} p50 {r['p50_ms']} ms p99 {r['p99_ms']} ms "
        f"(missing {r['missing_events']}/{r['spikes']}), SafeTwin CPU {r['safetwin_cpu_percent']} %, "
        f"broker CPU {r['broker_cpu_percent']} %, RSS {r['safetwin_rss_mb']} MB, "
        f"longest GC pause so far {r['gc_longest_pause_ms']} ms"
    )


def _summarise(figures: dict[str, Any]) -> None:
    ceiling = figures["raw_broker_messages_per_s"]
    for key in ("single", "batched"):
        ok = [r for r in figures.get(key, []) if r["sustainable"]]
        best = max(ok, key=lambda r: r["rate"]) if ok else None
        figures[f"{key}_sustained_readings_per_s"] = best["offered_readings_per_s"] if best else 0
        figures[f"{key}_p99_ms"] = best["p99_ms"] if best else None
        if best:
            msgs = best["offered_readings_per_s"] / best["readings_per_message"]
            figures[f"{key}_messages_ratio_to_raw_broker"] = round(msgs / ceiling, 3)
    print(
        f"sustained: single {figures['single_sustained_readings_per_s']} readings/s "
        f"(p99 {figures['single_p99_ms']} ms), batched {figures['batched_sustained_readings_per_s']} "
        f"readings/s (p99 {figures['batched_p99_ms']} ms); raw broker {ceiling} msg/s"
    )


def _sweep(
    args: argparse.Namespace, workers: list[SafeTwinProcess], broker: MosquittoBroker, bench_twin: BenchTwin
) -> dict[str, list[dict[str, Any]]]:
    """Each mode from its lowest rate up, until a rate is not sustained."""
    watcher = Watcher(broker.port, bench_twin.fan_of)
    watcher.start()
    out: dict[str, list[dict[str, Any]]] = {}
    spike_pool = list(bench_twin.spike_pool)
    levels = [(int(r), 1) for r in args.single.split(",") if r]
    levels += [(int(r), args.batch) for r in args.batched.split(",") if r]
    failed: set[int] = set()
    try:
        for rate, batch in tqdm(levels, desc="rates", unit="level"):
            if batch in failed:
                continue
            need = int(args.seconds * args.spikes_per_s) + 1
            if len(spike_pool) < need:
                tqdm.write("no garage left for spikes; stopping")
                break
            pool, spike_pool = spike_pool[:need], spike_pool[need:]
            plan = Plan(
                broker.port,
                bench_twin.readers,
                pool,
                rate,
                args.seconds,
                batch,
                args.spikes_per_s,
                bench_twin.gateway_of if batch > 1 else {},
            )
            r = run_level(workers, broker, watcher, plan, args.catch_up, args.profile)
            key = "single" if batch == 1 else "batched"
            out.setdefault(key, []).append(r)
            _report(key, r)
            if not r["sustainable"]:
                failed.add(batch)
    finally:
        watcher.stop()
    return out


@dataclass
class BenchTwin:
    path: Path
    devices: int
    readers: list[tuple[str, str]]
    fan_of: dict[str, str]
    spike_pool: list[str]
    gateway_of: dict[str, str]  # device -> the first gateway of its site

    @classmethod
    def make(cls, path: Path, devices: int) -> BenchTwin:
        write_twin(path, devices, per_floor=25, floors=4, garage_co=5)  # a garage per 106 devices
        twin = Twin(load_twin_file(path))
        readers = [(d, METRIC[p.kind.value]) for d, p in twin.devices.items() if p.kind.value in METRIC]
        fans = {p.space: d for d, p in twin.devices.items() if p.kind == "fan"}
        garage = [
            d for d, p in twin.devices.items() if p.kind == "co_sensor" and p.space_kind == "basement_garage"
        ]
        fan_of = {d: fans[twin.devices[d].space] for d in garage}
        first_of_garage = list({twin.devices[d].space: d for d in reversed(garage)}.values())
        site_gateway = {site.id: site.gateways[0].id for site in twin.sites.values() if site.gateways}
        gateway_of = {d: site_gateway[p.site] for d, p in twin.devices.items()}
        return cls(path, len(twin.devices), readers, fan_of, first_of_garage, gateway_of)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--seconds", type=float, default=6.0, help="seconds per offered rate")
    p.add_argument("--single", default="5000,10000,15000,20000,25000,30000")
    p.add_argument("--batched", default="50000,100000,150000,200000,250000")
    p.add_argument("--batch", type=int, default=200, help="readings per gateway batch")
    p.add_argument("--devices", type=int, default=20_000)
    p.add_argument(
        "--spikes-per-s",
        type=float,
        default=SPIKES_PER_S,
        help="threshold crossings a second (one garage each)",
    )
    p.add_argument(
        "--profile",
        type=Path,
        help="sample SafeTwin with py-spy during each level into PROFILE-<mode>-<rate>.txt",
    )
    p.add_argument(
        "--workers",
        type=int,
        default=1,
        help="SafeTwin workers, partitioned by site (each its own DuckDB file, as with the embedded store)",
    )
    p.add_argument("--catch-up", type=float, default=1.0, help="seconds allowed to work off the backlog")
    args = p.parse_args()
    figures: dict[str, Any] = {"bench": "throughput", "cores": os.cpu_count(), "seconds": args.seconds}
    with tempfile.TemporaryDirectory(prefix="bench-throughput-") as tmp:
        work = Path(tmp)
        levels = len([r for r in (args.single + "," + args.batched).split(",") if r])
        garages = levels * (int(args.seconds * args.spikes_per_s) + 1)  # a fresh garage per spike
        bench_twin = BenchTwin.make(work / "twin.json", max(args.devices, garages * DEVICES_PER_GARAGE))
        figures["devices"] = bench_twin.devices
        (work / "mosquitto").mkdir()
        (work / "pack.yaml").write_text(PACK)
        os.environ["SAFETWIN_TWIN__PATH"] = str(bench_twin.path)
        os.environ["SAFETWIN_RULES__EXTRA_PACKS"] = orjson.dumps([str(work / "pack.yaml")]).decode()
        broker = MosquittoBroker(workdir=work / "mosquitto")
        broker.start()
        try:
            ceiling = figures["raw_broker_messages_per_s"] = round(raw_broker_rate(broker.port))
            print(f"raw broker (QoS 1 raw publisher -> mosquitto_sub): {ceiling} msg/s")
            n = args.workers
            figures["workers"] = n
            workers = [
                SafeTwinProcess(work, broker.port, "duckdb", None, partition=(i, n) if n > 1 else None)
                for i in range(n)
            ]
            try:
                figures.update(_sweep(args, workers, broker, bench_twin))
            finally:
                for w in workers:
                    w.stop()
        finally:
            broker.stop()
    _summarise(figures)
    print(orjson.dumps(figures).decode())
    return 0


if __name__ == "__main__":
    sys.exit(main())
