"""Latency from a reading's publication to its alarm being raised, at 1,000 and 10,000 readings/s.

    python -m bench.alarm_latency [--seconds 10] [--rates 1000,10000]

Starts its own Mosquitto and one SafeTwin process (no dashboard) with a one-rule pack: CO above
100 ppm raises an alarm at once (no on-delay), below 50 ppm clears it.  A paced publisher process
send the demo twin's CO sensors' readings at the target rate; one reading in 200 is high, the next
one of that sensor low again, so alarms keep being raised and cleared.  A reading's `ts` is its
publication time; the alarm's first `active` announcement on `safetwin/v1/alarm/+` is received here,
and the latency is the receive time minus that reading's time (same machine, same clock).  The last
line is JSON.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import orjson
import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

from bench.ingest import ROOT, SafeTwinProcess, _cpu_seconds
from bench.rawmqtt import RawPublisher
from core.contract import Topics
from tests.fixtures.mosquitto import MosquittoBroker
from twin.loader import load_twin_file
from twin.twin import Twin

PACK = """
pack: bench
title: Bench
rules:
  - id: bench-co
    name: Bench CO
    category: gas
    type: threshold
    metric: co
    direction: above
    target: {device_kinds: [co_sensor]}
    citation: {standard: none, clause: bench, title: benchmark rule}
    levels:
      - {severity: alarm, trigger: 100, clear: 50, on_delay_s: 0, off_delay_s: 0}
"""
HIGH_EVERY = 200


def _client(name: str) -> paho.Client:
    c = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"{name}-{os.getpid()}-{time.monotonic_ns()}")
    c.max_inflight_messages_set(5000)
    c.max_queued_messages_set(0)
    return c


def paced_publisher(
    port: int, devices: list[str], rate: float, seconds: float, offset: int, batch: int = 1
) -> None:
    """Publish `rate` readings/s (QoS 1) for `seconds`, each stamped with its send time (1 ms slots)."""
    topics = Topics()
    pub = RawPublisher("127.0.0.1", port, f"bench-lat-pub-{os.getpid()}")
    high_next: set[str] = set()
    sent, start = 0, time.monotonic()
    while (elapsed := time.monotonic() - start) < seconds:
        due = int((elapsed + 0.001) * rate) - sent
        if due <= 0:
            time.sleep(0.0005)
            continue
        now = time.time_ns() // 1_000_000
        packets: list[bytes] = []
        readings: list[dict[str, Any]] = []
        for _ in range(due):
            i = sent + offset
            dev = devices[i % len(devices)]
            value = 5.0
            if dev in high_next:
                high_next.discard(dev)
            elif i % HIGH_EVERY == 0:
                value = 150.0
                high_next.add(dev)
            reading = {"ts": now, "metrics": {"co": value}}
            if batch > 1:
                readings.append({"device_id": dev, **reading})
            else:
                packets.append(pub.packet(topics.telemetry(dev), orjson.dumps(reading)))
            sent += 1
        for k in range(0, len(readings), batch):
            body = orjson.dumps({"readings": readings[k : k + batch]})
            packets.append(pub.packet(topics.gateway_batch("bench-gw"), body))
        pub.send(b"".join(packets))
    time.sleep(1)
    pub.close()


class AlarmWatcher:
    """Receives alarm announcements and keeps, per alarm, the latency of its first `active`."""

    def __init__(self, port: int) -> None:
        self.latencies: list[float] = []
        self._seen: set[str] = set()
        self._lock = threading.Lock()
        self.client = _client("bench-lat-watch")
        self.client.on_message = self._on_message
        self.client.connect("127.0.0.1", port)
        self.client.subscribe(f"{Topics().root}/alarm/+", qos=1)
        self.client.loop_start()

    def _on_message(self, _c: paho.Client, _u: object, msg: paho.MQTTMessage) -> None:
        now = time.time_ns() / 1e6
        alarm = orjson.loads(msg.payload)
        since = alarm.get("evidence", {}).get("beyond_since_ts")
        if alarm.get("state") != "active" or since is None:
            return
        with self._lock:
            if alarm["id"] in self._seen:
                return
            self._seen.add(alarm["id"])
            self.latencies.append(now - since)

    def take(self) -> list[float]:
        with self._lock:
            out, self.latencies = self.latencies, []
        return out

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 1)


def wait_idle(st: SafeTwinProcess, quiet_s: float = 1.5, limit_s: float = 120) -> None:
    """Wait until SafeTwin has worked off what an earlier run left behind."""
    deadline = time.monotonic() + limit_s
    last, since = st.written(), time.monotonic()
    while time.monotonic() < deadline and time.monotonic() - since < quiet_s:
        time.sleep(0.25)
        now = st.written()
        if now != last:
            last, since = now, time.monotonic()


def measure(
    st: SafeTwinProcess,
    port: int,
    watcher: AlarmWatcher,
    devices: list[str],
    rate: int,
    seconds: float,
    batch: int,
) -> dict[str, Any]:
    """Offer `rate` readings/s for `seconds` and collect the alarms' latencies."""
    wait_idle(st)
    before_written, cpu0 = st.written(), _cpu_seconds(st.proc.pid)
    watcher.take()
    t0 = time.monotonic()
    worker = mp.Process(target=paced_publisher, args=(port, devices, rate, seconds, 0, batch))
    worker.start()
    worker.join()
    time.sleep(1.0)
    elapsed = time.monotonic() - t0
    lat = watcher.take()
    written = st.written() - before_written
    return {
        "target_readings_per_s": rate,
        "achieved_readings_per_s": round(written / seconds),
        "alarms": len(lat),
        "p50_ms": pct(lat, 0.50) if lat else None,
        "p99_ms": pct(lat, 0.99) if lat else None,
        "max_ms": round(max(lat), 1) if lat else None,
        "mean_ms": round(statistics.fmean(lat), 1) if lat else None,
        "safetwin_cpu_percent": round(100 * (_cpu_seconds(st.proc.pid) - cpu0) / elapsed),
        "readings_per_message": batch,
    }


def report(figures: dict[str, Any], r: dict[str, Any]) -> None:
    """Print one measurement and keep it under '<rate>/<single|batchN>'."""
    batch = r["readings_per_message"]
    how = "single readings" if batch == 1 else f"gateway batches of {batch}"
    figures[f"{r['target_readings_per_s']}/{'single' if batch == 1 else f'batch{batch}'}"] = r
    print(
        f"{r['target_readings_per_s']:>6} readings/s offered as {how}: "
        f"{r['achieved_readings_per_s']} handled, "
        f"{r['alarms']} alarms, p50 {r['p50_ms']} ms, p99 {r['p99_ms']} ms, max {r['max_ms']} ms "
        f"(SafeTwin CPU {r['safetwin_cpu_percent']} %)",
        flush=True,
    )


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--seconds", type=float, default=10.0)
    p.add_argument("--rates", default="1000,10000")
    p.add_argument(
        "--batches", default="1,50", help="readings per message: 1 = single readings, N = gateway batches"
    )
    args = p.parse_args()
    twin = Twin(load_twin_file(ROOT / "data" / "demo-twin.yaml"))
    devices = [d for d, place in twin.devices.items() if place.kind == "co_sensor"]
    figures: dict[str, Any] = {"seconds": args.seconds, "co_sensors": len(devices), "cores": os.cpu_count()}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        (work / "mosquitto").mkdir()
        (work / "pack.yaml").write_text(PACK)
        broker = MosquittoBroker(workdir=work / "mosquitto")
        broker.start()
        os.environ["SAFETWIN_RULES__PACKS"] = orjson.dumps([str(work / "pack.yaml")]).decode()
        st = SafeTwinProcess(work, broker.port, "duckdb", None)
        watcher = AlarmWatcher(broker.port)
        try:
            time.sleep(2)  # subscriptions settle
            for batch in (int(b) for b in args.batches.split(",")):
                for rate in (int(r) for r in args.rates.split(",")):
                    report(figures, measure(st, broker.port, watcher, devices, rate, args.seconds, batch))
        finally:
            watcher.close()
            st.stop()
            broker.stop()
    print(orjson.dumps(figures).decode())
    return 0


if __name__ == "__main__":
    sys.exit(main())
