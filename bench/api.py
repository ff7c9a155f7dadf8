"""API latency under simulator load: live state and the alarm list, as an operator and as a facility manager.

    python -m bench.api [--requests 500] [--interval 1.0]

Starts one `safetwin run --simulate --no-dashboard` (embedded broker, the demo twin, every device
simulated every `--interval` seconds, video analytics off) in a work directory of its own, waits
until start-up work is done, logs in as the development administrator and the facility manager, and
times sequential requests to each endpoint (after a short warm-up).  The last line is JSON with
p50 / p99 in milliseconds per endpoint and who asked.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import orjson

from core.settings import DEV_PASSWORDS
from tests.fixtures.mosquitto import free_port, wait_port

ROOT = Path(__file__).resolve().parent.parent
TICKS = os.sysconf("SC_CLK_TCK")
DEVICE = "gl-lj-b01-b1-co-01"
ENDPOINTS = {
    "live_state_one": f"/devices/{DEVICE}",
    "live_state_page": "/devices?limit=100",
    "alarm_list": "/alarms?limit=100",
    "alarm_list_active": "/alarms?state=active&limit=100",
}


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def start(workdir: Path, interval_s: float) -> tuple[subprocess.Popen[bytes], int]:
    """A SafeTwin process with simulators, its API on a free port."""
    port, broker = free_port(), free_port()
    env = dict(os.environ)
    env.update(
        {
            "SAFETWIN_MQTT__EMBEDDED_PORT": str(broker),
            "SAFETWIN_STORE__DUCKDB_PATH": str(workdir / "history.duckdb"),
            "SAFETWIN_STORE__SPOOL_DIR": str(workdir / "spool"),
            "SAFETWIN_STATE__SQLITE_PATH": str(workdir / "state.sqlite"),
            "SAFETWIN_DATABASE__URL": f"sqlite:///{workdir / 'ops.db'}",
            "SAFETWIN_API__PORT": str(port),
            "SAFETWIN_SIMULATOR__INTERVAL_S": str(interval_s),
            "SAFETWIN_LOG_LEVEL": "WARNING",
            "SAFETWIN_VISION__ENABLED": "false",
        }
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "safetwin", "run", "--simulate", "--no-dashboard"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    wait_port("127.0.0.1", port, timeout=90)
    return proc, port


def settle(pid: int, busy_below: float = 0.6, limit_s: float = 90) -> None:
    """Wait until start-up work is over: the process then spends only the simulator load's CPU."""
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        before = _cpu_seconds(pid)
        time.sleep(1.0)
        if _cpu_seconds(pid) - before < busy_below:
            return


def login(base: str, username: str) -> dict[str, str]:
    body = {"username": username, "password": DEV_PASSWORDS[username]}
    answer = httpx.post(f"{base}/api/v1/auth/login", json=body, timeout=60, trust_env=False)
    answer.raise_for_status()
    return {"Authorization": f"Bearer {answer.json()['token']}"}


def timings(client: httpx.Client, path: str, count: int) -> dict[str, float]:
    """p50 / p99 / max of `count` sequential GETs, ms, after 20 unmeasured ones."""
    for _ in range(20):
        client.get(path).raise_for_status()
    samples = []
    for _ in range(count):
        t0 = time.perf_counter()
        client.get(path).raise_for_status()
        samples.append((time.perf_counter() - t0) * 1000)
    samples.sort()
    return {
        "p50_ms": round(statistics.median(samples), 2),
        "p99_ms": round(samples[min(len(samples) - 1, int(len(samples) * 0.99))], 2),
        "max_ms": round(samples[-1], 2),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=500, help="Measured requests per endpoint")
    parser.add_argument("--interval", type=float, default=1.0, help="Seconds between readings of a device")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-api-") as tmp:
        proc, port = start(Path(tmp), args.interval)
        try:
            settle(proc.pid)
            base = f"http://127.0.0.1:{port}"
            result: dict[str, Any] = {"requests": args.requests, "interval_s": args.interval}
            for who in ("admin", "manager"):
                with httpx.Client(base_url=f"{base}/api/v1", headers=login(base, who), trust_env=False) as c:
                    devices = c.get("/devices", params={"limit": 1}).json()["total"]
                    result[who] = {"devices_visible": devices} | {
                        name: timings(c, path, args.requests) for name, path in ENDPOINTS.items()
                    }
                    print(who, orjson.dumps(result[who]).decode(), flush=True)
        finally:
            proc.terminate()
            proc.wait(timeout=60)
    print(orjson.dumps(result).decode())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
