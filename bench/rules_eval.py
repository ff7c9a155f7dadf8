"""Measure the rule engine's evaluation rate in-process: `python -m bench.rules_eval [--devices N]`.

Builds a synthetic twin of basement garages full of CO sensors, loads the shipped packs, and feeds
ingest-sized batches of readings (5 s apart per device, mostly clean air, 0.5 % of devices in alarm)
to `RuleEngine.on_result`.  Prints readings/s for the threshold rules of the gas packs, for the same
with every sensor in alarm (each goes pending, then fires, then stays), and for every shipped pack;
the last line is JSON, as the benchmarks in bench/ do.
"""

from __future__ import annotations

import argparse
import json
import random
import time
from typing import Any

from core.records import ReadingBatch
from ingest.pipeline import PipelineResult
from rules.engine import RuleEngine
from rules.model import Rule
from rules.packs import load_packs, shipped_packs
from twin.model import TwinSpec
from twin.twin import Twin

T0 = 1_795_399_200_000


def synthetic_twin(devices: int, per_space: int = 20) -> Twin:
    """Sites of 10 buildings, each with one basement garage of `per_space` CO sensors."""
    spaces = []
    for i in range(0, devices, per_space):
        n = min(per_space, devices - i)
        devs = [{"id": f"co-{i + k}", "kind": "co_sensor"} for k in range(n)]
        spaces.append(
            {
                "id": f"g-{i // per_space}",
                "name": f"{i // per_space}栋B1地下车库",
                "kind": "basement_garage",
                "devices": devs,
            }
        )
    buildings = [
        {
            "id": f"b-{j}",
            "name": f"{j}栋",
            "location": {"lat": 22.7, "lon": 114.0},
            "floors": [{"level": -1, "name": "B1", "spaces": [sp]}],
        }
        for j, sp in enumerate(spaces)
    ]
    sites = [
        {
            "id": f"s-{k}",
            "name": f"社区{k}",
            "location": {"lat": 22.7, "lon": 114.0},
            "buildings": buildings[k : k + 10],
        }
        for k in range(0, len(buildings), 10)
    ]
    return Twin(TwinSpec.model_validate({"name": "perf", "sites": sites}))


def batches(
    twin: Twin, rounds: int, size: int, hot_share: float = 0.005, seed: int = 1
) -> list[ReadingBatch]:
    """Rounds of one reading per device, 5 s apart; `hot_share` of the sensors read 60-65 ppm."""
    rng = random.Random(seed)
    ids = sorted(twin.devices)
    hot = set(rng.sample(ids, max(1, int(len(ids) * hot_share))))
    out, current = [], ReadingBatch()
    for r in range(rounds):
        ts = T0 + r * 5000
        for dev in ids:
            p = twin.devices[dev]
            v = 60.0 + rng.random() * 5 if dev in hot else rng.random() * 8
            current.append(ts, ts + 40, dev, "co", v, "ppm", p.site, p.building, p.space, "co_sensor")
            if len(current) >= size:
                out.append(current)
                current = ReadingBatch()
    if current:
        out.append(current)
    return out


def rate(twin: Twin, rules: list[Rule], work: list[ReadingBatch]) -> dict[str, Any]:
    eng = RuleEngine(twin, rules)
    n = sum(len(b) for b in work)
    signals = 0
    start = time.perf_counter()
    for b in work:
        signals += len(eng.on_result(PipelineResult(readings=b)))
    took = time.perf_counter() - start
    eng.close()
    return {
        "rules": len(rules),
        "readings": n,
        "seconds": round(took, 3),
        "readings_per_s": round(n / took),
        "signals": signals,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--devices", type=int, default=20_000)
    ap.add_argument("--rounds", type=int, default=30)
    ap.add_argument("--batch", type=int, default=5000)
    args = ap.parse_args()
    twin = synthetic_twin(args.devices)
    work = batches(twin, args.rounds, args.batch)
    all_hot = batches(twin, args.rounds, args.batch, hot_share=1.0)
    threshold_packs = [
        p for p in shipped_packs() if p.stem in ("basement_garage", "confined_space", "kitchen_gas")
    ]
    only_thresholds = [r for r in load_packs(threshold_packs) if r.type == "threshold"]
    results = {
        "threshold_rules": rate(twin, only_thresholds, work),
        "threshold_all_in_alarm": rate(twin, only_thresholds, all_hot),
        "all_packs": rate(twin, load_packs(), work),
    }
    for name, res in results.items():
        detail = f"{res['readings']:,} readings, {res['rules']} rules, {res['signals']} signals"
        print(f"{name:22s} {res['readings_per_s']:>10,} readings/s  ({detail})")
    print(json.dumps({"devices": args.devices, **results}))


if __name__ == "__main__":
    main()
