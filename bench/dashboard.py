"""Time to first render of the one-map page, in a real headless Chromium at 1920x1080.

    python -m bench.dashboard [--runs 3] [--devices 10000]

Serves the API and the dashboard (one port, as `safetwin run` does) over the demo twin, then over a
generated twin of `--devices` devices (sites of 10 buildings with footprints, 5 floors, one space of
5 devices per floor, plus a septic tank with a camera per site), with an alarm manager holding one
active alarm per 20 buildings.  A run is: navigate to `/` (logged in as the duty operator), then
poll until the map figure's SVG paths are in the DOM; then the same for the floor plan (devices
drawn) and the 3D view (devices in the figure, WebGL canvas there) of the building with most devices.
The first run after the server starts has the dashboard's twin cache cold (GET /twin included);
later runs are warm.  The last line is JSON.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from core.alarms import Severity
from tests.dashboard.support import DEMO_TWIN, DemoSite, chromium, co_alarm, demo_site, login

MAP_DRAWN = "return document.querySelectorAll('#map .scatterlayer .trace path').length > 0"
# The floor plan's or 3D view's device markers are in the figure and drawn (SVG points or a WebGL canvas).
TWIN_DRAWN = (
    "const gd = document.querySelector('#twin-graph .js-plotly-plot');"
    "return !!(gd && gd.data && gd.data.some(t => t.uid === 'devices' && (t.x || []).length)"
    " && (document.querySelector('#twin-graph .scatterlayer .point, #twin-graph .gl-container canvas')))"
)


def generated_twin(devices: int) -> dict[str, Any]:
    """A twin of about `devices` devices: 10-building sites, 5 floors each, 5 CO sensors per floor."""
    per_building, buildings_per_site = 25, 10
    n_sites = max(1, -(-devices // (per_building * buildings_per_site)))
    sites = []
    for s in range(n_sites):
        lat0, lon0 = 22.70 + (s // 8) * 0.006, 114.03 + (s % 8) * 0.006
        buildings = []
        for b in range(buildings_per_site):
            lat, lon = lat0 + (b // 5) * 0.0008, lon0 + (b % 5) * 0.0007
            bid = f"s{s:03d}-b{b:02d}"
            floors = [
                {
                    "level": f,
                    "name": f"{f}F",
                    "spaces": [
                        {
                            "id": f"{bid}-f{f}",
                            "name": f"{f}层",
                            "kind": "corridor",
                            "devices": [
                                {"id": f"{bid}-f{f}-co{d}", "kind": "co_sensor"}
                                for d in range(per_building // 5)
                            ],
                        }
                    ],
                }
                for f in range(1, 6)
            ]
            footprint = [
                [lon - 1e-4, lat - 1e-4],
                [lon + 1e-4, lat - 1e-4],
                [lon + 1e-4, lat + 1e-4],
                [lon - 1e-4, lat + 1e-4],
            ]
            buildings.append(
                {
                    "id": bid,
                    "name": f"{s}区{b}栋",
                    "location": {"lat": lat, "lon": lon},
                    "footprint": footprint,
                    "floors_above": 5,
                    "floors": floors,
                }
            )
        tank = {
            "id": f"s{s:03d}-st",
            "name": "化粪池",
            "kind": "septic_tank",
            "confined": True,
            "location": {"lat": lat0 - 0.0006, "lon": lon0},
            "devices": [
                {"id": f"s{s:03d}-st-gas", "kind": "multi_gas"},
                {"id": f"s{s:03d}-st-cam", "kind": "camera"},
            ],
        }
        sites.append(
            {
                "id": f"s{s:03d}",
                "name": f"生成社区{s}",
                "location": {"lat": lat0, "lon": lon0},
                "buildings": buildings,
                "spaces": [tank],
            }
        )
    return {"version": 1, "name": "generated", "sites": sites}


def _page_times(driver: Any, url: str, drawn: str, runs: int) -> list[float]:
    """Seconds from navigation to `drawn` (a script) being true, `runs` times."""
    times = []
    for _ in range(runs):
        driver.get("about:blank")
        start = time.perf_counter()
        driver.get(url)
        while not driver.execute_script(drawn):
            if time.perf_counter() - start > 60:
                raise TimeoutError(f"{url} was not drawn within 60 s")
            time.sleep(0.01)
        times.append(time.perf_counter() - start)
    return times


def _first_render(site: DemoSite, profile: Path, runs: int) -> dict[str, list[float]]:
    """Map, floor plan and 3D view of the building with most devices, logged in as the duty operator."""
    building = max(
        site.twin.buildings, key=lambda b: sum(p.building == b for p in site.twin.devices.values())
    )
    level = min(p.floor_level or 0 for p in site.twin.devices.values() if p.building == building)
    driver = chromium(profile)
    try:
        login(driver, site.base)
        return {
            "map": _page_times(driver, f"{site.base}/", MAP_DRAWN, runs),
            "floor": _page_times(driver, f"{site.base}/building/{building}/floor/{level}", TWIN_DRAWN, runs),
            "3d": _page_times(driver, f"{site.base}/building/{building}/3d", TWIN_DRAWN, runs),
        }
    finally:
        driver.quit()


def _measure(twin_path: Path, tmp: Path, runs: int) -> dict[str, Any]:
    with demo_site(tmp, twin_path) as site:
        for i, building in enumerate(sorted(site.twin.buildings)):
            if i % 20 == 0:
                device = next(
                    d for d, p in site.twin.devices.items() if p.building == building and "co" in p.metrics
                )
                site.alarms.on_signal(co_alarm(site.twin, device, 300.0, Severity.EMERGENCY))
        pages = _first_render(site, tmp / "profile", runs)
        times = pages["map"]
        return {
            "devices": len(site.twin.devices),
            "buildings": len(site.twin.buildings),
            "cold_s": round(times[0], 3),
            "warm_median_s": round(statistics.median(times[1:]), 3) if len(times) > 1 else None,
            "runs_s": [round(t, 3) for t in times],
            "floor_plan_median_s": round(statistics.median(pages["floor"]), 3),
            "3d_median_s": round(statistics.median(pages["3d"]), 3),
        }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="page loads per twin (the first is cold)")
    parser.add_argument("--devices", type=int, default=10_000, help="devices of the generated twin")
    args = parser.parse_args(argv)
    out: dict[str, Any] = {"bench": "dashboard_first_render", "viewport": "1920x1080"}
    with tempfile.TemporaryDirectory(prefix="bench-dashboard-") as tmp_dir:
        tmp = Path(tmp_dir)
        out["demo"] = _measure(DEMO_TWIN, tmp / "demo", args.runs)
        print(f"demo twin: {out['demo']}", flush=True)
        big = tmp / "generated-twin.yaml"
        big.write_text(json.dumps(generated_twin(args.devices), ensure_ascii=False), encoding="utf-8")
        out["generated"] = _measure(big, tmp / "generated", args.runs)
        print(f"generated twin: {out['generated']}", flush=True)
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
