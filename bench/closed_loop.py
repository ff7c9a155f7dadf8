"""Time from a threshold-crossing reading's publication to the fan command on the wire, p50/p99.

    python -m bench.closed_loop [--trials 200] [--background 1000]

Starts its own Mosquitto and one SafeTwin process (demo twin, no dashboard) with a one-rule pack:
garage CO above 100 ppm raises an alarm at once and its action switches the garage's exhaust fans
on; below 50 ppm it clears and they stop (no minimum on-time).  This process plays the fans (it
answers every command 'delivered' then 'succeeded', as devices do) and watches the command topics.
Each trial publishes one high reading of one garage's CO sensor stamped with its send time, waits for
the first fan command of that garage, then a low reading and the stop.  Meanwhile `--background`
readings/s of normal CO go to every other CO sensor.  Same machine, same clock; the last line is JSON.
"""

from __future__ import annotations

import argparse
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

from bench.alarm_latency import _client, pct
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
  - id: bench-garage-co
    name: Bench garage CO
    category: gas
    type: threshold
    metric: co
    direction: above
    target: {device_kinds: [co_sensor], space_kinds: [basement_garage]}
    citation: {standard: none, clause: bench, title: benchmark rule}
    levels:
      - {severity: warning, trigger: 100, clear: 50, on_delay_s: 0, off_delay_s: 0}
    actions:
      - {device_kind: fan, params: {on: true, speed: 2}, stop_params: {on: false}}
"""


class Fans:
    """Plays every fan: acks each command and notes when the first 'on' for a space arrived."""

    def __init__(self, port: int, twin: Twin) -> None:
        self.topics = Topics()
        self.space_of = {d: p.space for d, p in twin.devices.items() if p.kind == "fan"}
        self.on_at: dict[str, float] = {}  # space -> receive time (ms) of its first 'on' this trial
        self.off: set[str] = set()
        self._lock = threading.Lock()
        self.client = _client("bench-fans")
        self.client.on_message = self._on_message
        self.client.connect("127.0.0.1", port)
        self.client.subscribe(f"{self.topics.root}/command/+", qos=1)
        self.client.loop_start()

    def _on_message(self, _c: paho.Client, _u: object, msg: paho.MQTTMessage) -> None:
        now = time.time_ns() / 1e6
        device = msg.topic.rsplit("/", 1)[1]
        command = orjson.loads(msg.payload)
        space = self.space_of.get(device)
        with self._lock:
            if space is not None and command["params"].get("on"):
                self.on_at.setdefault(space, now)
            elif space is not None:
                self.off.add(space)
        for status in ("delivered", "succeeded"):
            ack = {"correlation_id": command["correlation_id"], "status": status, "ts": int(now)}
            self.client.publish(self.topics.ack(device), orjson.dumps(ack), qos=1)

    def wait(self, check: Any, timeout: float = 10.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if check():
                    return True
            time.sleep(0.001)
        return False

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def background(port: int, devices: list[str], rate: float, stop: threading.Event) -> None:
    """Normal CO readings at `rate` per second from `devices`, until `stop`."""
    if rate <= 0 or not devices:
        return
    topics, pub = Topics(), RawPublisher("127.0.0.1", port, f"bench-bg-{os.getpid()}")
    sent, start = 0, time.monotonic()
    while not stop.is_set():
        due = int((time.monotonic() - start + 0.001) * rate) - sent
        if due <= 0:
            time.sleep(0.0005)
            continue
        now = time.time_ns() // 1_000_000
        body = orjson.dumps({"ts": now, "metrics": {"co": 5.0}})
        pub.send(
            b"".join(
                pub.packet(topics.telemetry(devices[(sent + k) % len(devices)]), body) for k in range(due)
            )
        )
        sent += due
    pub.close()


def trials(port: int, fans: Fans, sensors: list[tuple[str, str]], n: int) -> list[float]:
    """Latencies (ms) of `n` threshold crossings, round robin over one CO sensor per garage."""
    topics, pub = Topics(), _client("bench-trigger")
    pub.connect("127.0.0.1", port)
    pub.loop_start()
    out: list[float] = []
    for i in range(n):
        sensor, space = sensors[i % len(sensors)]
        with fans._lock:
            fans.on_at.pop(space, None)
            fans.off.discard(space)
        sent = time.time_ns() / 1e6
        pub.publish(
            topics.telemetry(sensor), orjson.dumps({"ts": int(sent), "metrics": {"co": 150.0}}), qos=1
        )
        if fans.wait(lambda space=space: space in fans.on_at):
            out.append(fans.on_at[space] - sent)
        pub.publish(
            topics.telemetry(sensor),
            orjson.dumps({"ts": time.time_ns() // 1_000_000, "metrics": {"co": 5.0}}),
            qos=1,
        )
        fans.wait(lambda space=space: space in fans.off)
    pub.disconnect()
    pub.loop_stop()
    return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--trials", type=int, default=200)
    p.add_argument("--background", type=float, default=1000.0, help="normal readings/s from other sensors")
    args = p.parse_args()
    twin = Twin(load_twin_file(ROOT / "data" / "demo-twin.yaml"))
    garages: dict[str, str] = {}
    for dev, place in twin.devices.items():
        fans_here = any(d.kind == "fan" for d in twin.devices_in(space=place.space))
        if place.kind == "co_sensor" and place.space_kind == "basement_garage" and fans_here:
            garages.setdefault(place.space, dev)
    sensors = [(dev, space) for space, dev in garages.items()]
    others = [d for d, pl in twin.devices.items() if pl.kind == "co_sensor" and d not in garages.values()]
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        (work / "mosquitto").mkdir()
        (work / "pack.yaml").write_text(PACK)
        broker = MosquittoBroker(workdir=work / "mosquitto")
        broker.start()
        os.environ["SAFETWIN_RULES__PACKS"] = orjson.dumps([str(work / "pack.yaml")]).decode()
        os.environ["SAFETWIN_ACTUATORS__DRIVERS"] = orjson.dumps([{"type": "fan", "min_on_s": 0}]).decode()
        st = SafeTwinProcess(work, broker.port, "duckdb", None)
        fans = Fans(broker.port, twin)
        stop = threading.Event()
        bg = threading.Thread(
            target=background, args=(broker.port, others, args.background, stop), daemon=True
        )
        try:
            time.sleep(2)  # subscriptions settle
            bg.start()
            cpu0, t0 = _cpu_seconds(st.proc.pid), time.monotonic()
            lat = trials(broker.port, fans, sensors, args.trials)
            cpu = 100 * (_cpu_seconds(st.proc.pid) - cpu0) / (time.monotonic() - t0)
        finally:
            stop.set()
            bg.join(timeout=5)
            fans.close()
            st.stop()
            broker.stop()
    figures = {
        "trials": args.trials,
        "commands_seen": len(lat),
        "garages": len(sensors),
        "background_readings_per_s": args.background,
        "p50_ms": pct(lat, 0.50) if lat else None,
        "p99_ms": pct(lat, 0.99) if lat else None,
        "max_ms": round(max(lat), 1) if lat else None,
        "mean_ms": round(statistics.fmean(lat), 1) if lat else None,
        "safetwin_cpu_percent": round(cpu),
        "cores": os.cpu_count(),
    }
    print(
        "threshold crossing -> fan command on the wire: "
        f"p50 {figures['p50_ms']} ms, p99 {figures['p99_ms']} ms, "
        f"max {figures['max_ms']} ms over {len(lat)} of {args.trials} trials in {len(sensors)} garages, "
        f"with {args.background:g} background readings/s (SafeTwin CPU {figures['safetwin_cpu_percent']} %)",
        flush=True,
    )
    print(orjson.dumps(figures).decode())
    return 0


if __name__ == "__main__":
    sys.exit(main())
