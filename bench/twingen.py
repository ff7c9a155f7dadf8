"""Generated twins for the throughput and community benchmarks, written as JSON (a YAML subset).

A community of estates (sites) of towers; every tower has a basement garage with CO sensors and an
exhaust fan, and floors of residences with temperature/humidity, CO and gas sensors, each floor
reporting through its own gateway (as LoRa or NB-IoT concentrators do).
"""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path
from typing import Any

import orjson

FLOOR_KINDS = ("temp_humidity", "co_sensor", "ch4_sensor", "temp_humidity")
GAS_KINDS = {"co_sensor", "ch4_sensor"}


def _maintained() -> dict[str, str]:
    """Recent calibration and bump test, so the device-health rules have nothing to say."""
    recent = (date.today() - timedelta(days=10)).isoformat()
    return {"calibrated_on": recent, "bump_test_on": recent}


def community_twin(
    devices: int, *, per_floor: int = 500, floors: int = 40, towers_per_site: int = 5, garage_co: int = 20
) -> dict[str, Any]:
    """A twin of about `devices` devices; device ids are short (`d<n>`), as real serials are."""
    per_tower = floors * per_floor + garage_co + 1
    towers = max(1, -(-devices // per_tower))
    n = 0
    meta = _maintained()
    sites: list[dict[str, Any]] = []
    for t in range(towers):
        s = t // towers_per_site
        if s == len(sites):
            sites.append(
                {
                    "id": f"e{s}",
                    "name": f"Estate {s}",
                    "location": {"lat": 22.55 + s * 0.002, "lon": 114.1},
                    "buildings": [],
                    "gateways": [],
                }
            )
        site = sites[s]
        garage = []
        for _ in range(garage_co):
            garage.append({"id": f"d{n}", "kind": "co_sensor", "meta": meta})
            n += 1
        garage.append({"id": f"fan{t}", "kind": "fan"})
        levels: list[dict[str, Any]] = [
            {
                "level": -1,
                "name": "B1",
                "spaces": [
                    {"id": f"g{t}", "name": f"Garage {t}", "kind": "basement_garage", "devices": garage}
                ],
            }
        ]
        for f in range(1, floors + 1):
            gw = f"gw{t}-{f}"
            site["gateways"].append({"id": gw, "name": gw})
            devs = []
            for k in range(per_floor):
                kind = FLOOR_KINDS[k % len(FLOOR_KINDS)]
                dev: dict[str, Any] = {"id": f"d{n}", "kind": kind, "gateway": gw}
                if kind in GAS_KINDS:
                    dev["meta"] = meta
                devs.append(dev)
                n += 1
            space = {"id": f"r{t}-{f}", "name": f"Floor {f}", "kind": "residence", "devices": devs}
            levels.append({"level": f, "name": f"{f}F", "spaces": [space]})
        site["buildings"].append(
            {
                "id": f"t{t}",
                "name": f"Tower {t}",
                "location": {"lat": 22.55 + s * 0.002, "lon": 114.1 + t * 0.0005},
                "floors_above": floors,
                "floors_below": 1,
                "floors": levels,
            }
        )
    return {"version": 1, "name": "Generated community", "sites": sites}


def write_twin(path: Path, devices: int, **shape: Any) -> Path:
    """Write a generated twin to `path` (a .json file loads fastest)."""
    path.write_bytes(orjson.dumps(community_twin(devices, **shape)))
    return path
