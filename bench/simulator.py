"""The largest fleet one simulator process sustains against a real Mosquitto.

    python -m bench.simulator [--seconds 3] [--devices 20000]

Starts its own Mosquitto.  Two measures:

1. Scale mode (`simulators.scale`): the highest asked rate the process keeps up with (>= 95 %, every
   message acknowledged), one message per reading and gateway batches of 500, doubling the rate
   from a start until it falls behind.
2. The full device model (`simulators.runner.ScenarioRun` on the demo twin: value model, physics,
   faults, contract messages through the per-gateway clients): readings/s when it reads and
   publishes as fast as it can, so devices at the default 5 s interval = that rate x 5.

The machine is shared and has 2 cores: the figures move with its load (printed).  The last line is JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson

from core.contract import now_ms
from core.settings import MqttSettings, Settings
from simulators.runner import ScenarioRun
from simulators.scale import ScalePlan, ScaleRun, scale_devices
from simulators.scenario import Scenario
from tests.fixtures.mosquitto import MosquittoBroker
from twin.loader import load_twin_file
from twin.twin import Twin

ROOT = Path(__file__).resolve().parent.parent
SUSTAINED = 0.95


def _scale_ceiling(url: str, devices: int, batch: int, start: float, seconds: float) -> dict[str, Any]:
    """Double the asked rate until the achieved one falls below 95 % of it."""
    mqtt = MqttSettings(url=url, topic_prefix="bench-sim")
    ids = scale_devices(None, devices)
    best, peak, rate, steps = 0.0, 0.0, start, []
    while True:
        plan = ScalePlan(devices=devices, rate=rate, batch=batch, duration_s=seconds)
        result = ScaleRun(mqtt, plan, ids, client_id=f"bench-sim-{batch}-{int(rate)}").run(progress=False)
        ok = result.rate >= SUSTAINED * rate and result.acked == result.messages and result.dropped == 0
        steps.append({"asked": rate, "achieved": round(result.rate), "sustained": ok})
        print(f"  {'batch ' + str(batch) if batch else 'single':>9}: asked {rate:>10,.0f}/s -> "
              f"{result.rate:>10,.0f}/s {'ok' if ok else 'behind'}", flush=True)  # fmt: skip
        peak = max(peak, result.rate)
        if not ok:
            break
        best, rate = rate, rate * 2
    return {"sustained_readings_per_s": best, "peak_readings_per_s": round(peak), "steps": steps}


def _model_rate(url: str, seconds: float, gateway_batch: bool) -> dict[str, Any]:
    """Readings/s of the full device model on the demo twin, read and published as fast as possible."""
    twin = Twin(load_twin_file(ROOT / "data" / "demo-twin.yaml"))
    settings = Settings(mqtt=MqttSettings(url=url, topic_prefix="bench-model"))
    scenario = Scenario(name="bench", title="bench", duration=3600.0, gateway_batch=gateway_batch)
    run = ScenarioRun(settings, scenario, twin, speed=60.0, out=lambda _line: None)

    async def go() -> tuple[int, float]:
        await run.uplinks.start()
        for pub in run.uplinks.clients.values():
            await asyncio.to_thread(pub.wait_connected, 10)
        t0 = time.perf_counter()
        while time.perf_counter() - t0 < seconds:
            wall = now_ms()
            sim = run.clock.sim_ms(wall)
            run.physics.advance(sim)
            run._read(sim, wall)
            await asyncio.sleep(0)
        for pub in run.uplinks.clients.values():
            await asyncio.to_thread(pub.wait_all_published, 30)
        elapsed = time.perf_counter() - t0
        await run.uplinks.stop()
        return run.summary.readings, elapsed

    readings, elapsed = asyncio.run(go())
    rate = readings / elapsed
    print(f"  full model ({'gateway batches' if gateway_batch else 'one message per reading'}): "
          f"{rate:,.0f} readings/s -> {rate * 5:,.0f} devices at a 5 s interval", flush=True)  # fmt: skip
    return {
        "readings_per_s": round(rate),
        "devices_at_5s": round(rate * 5),
        "sensors": len(run.fleet.devices),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=3.0, help="length of each measured step, s")
    ap.add_argument("--devices", type=int, default=20_000, help="devices in scale mode")
    args = ap.parse_args()
    load = os.getloadavg()
    print(f"simulator bench: {os.cpu_count()} cores, load average {load[0]:.1f} (shared machine)", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        broker = MosquittoBroker(workdir=Path(tmp))
        broker.start()
        try:
            print("scale mode, QoS 1, one paho client:", flush=True)
            single = _scale_ceiling(broker.url, args.devices, 0, 1000.0, args.seconds)
            batch = _scale_ceiling(broker.url, args.devices, 500, 25_000.0, args.seconds)
            print("full device model (demo twin, physics, value model, contract messages):", flush=True)
            model_batch = _model_rate(broker.url, args.seconds * 2, gateway_batch=True)
            model_single = _model_rate(broker.url, args.seconds * 2, gateway_batch=False)
        finally:
            broker.stop()
    result = {
        "bench": "simulator",
        "cores": os.cpu_count(),
        "load_average": round(load[0], 1),
        "scale_devices": args.devices,
        "scale_single": single,
        "scale_batch_500": batch,
        "model_gateway_batches": model_batch,
        "model_single_messages": model_single,
    }
    print(orjson.dumps(result).decode())


if __name__ == "__main__":
    main()
