"""Ingest rate of one `safetwin` process into each history backend.

    python -m bench.ingest [--count 60000] [--backends duckdb,influxdb]

Starts its own Mosquitto (and InfluxDB server) and one SafeTwin process without the dashboard.
Single-reading messages come from Mosquitto's C publisher (`mosquitto_pub -l`, QoS 1, several
processes), gateway batches of 200 readings from a paho process.  For each backend it measures
readings/s from the first publication until history has written them all, and the raw broker rate
(the same C publishers to `mosquitto_sub`) as the ceiling.  The last line is JSON.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import orjson

from core.contract import Topics
from tests.fixtures.influx import InfluxServer
from tests.fixtures.mosquitto import MosquittoBroker, free_port, wait_port
from twin.loader import load_twin_file
from twin.twin import Twin

ROOT = Path(__file__).resolve().parent.parent
TICKS = os.sysconf("SC_CLK_TCK")
MOSQUITTO_PUB = shutil.which("mosquitto_pub") or "/usr/bin/mosquitto_pub"
MOSQUITTO_SUB = shutil.which("mosquitto_sub") or "/usr/bin/mosquitto_sub"


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _loadgen(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "bench.loadgen", *args], cwd=ROOT, text=True, stdout=subprocess.PIPE
    )


def _last_json(proc: subprocess.Popen[str], timeout: float = 300) -> dict[str, Any]:
    out, _ = proc.communicate(timeout=timeout)
    return dict(orjson.loads(out.strip().splitlines()[-1]))


def _line_files(work: Path, devices: list[str], count: int, procs: int) -> list[tuple[str, Path]]:
    """Per publisher process: a device and a file of its telemetry payloads, one per line."""
    base = int(time.time() * 1000) - count
    out = []
    for k in range(procs):
        path = work / f"lines-{k}.txt"
        with path.open("wb") as f:
            for i in range(k, count, procs):
                f.write(orjson.dumps({"ts": base + i, "metrics": {"co": float(2 + i % 8)}}) + b"\n")
        out.append((devices[k % len(devices)], path))
    return out


def c_publish(port: int, topics: Topics, files: list[tuple[str, Path]]) -> float:
    """Publish every line with Mosquitto's C client (QoS 1), one process per device; return the start time."""
    start = time.time()
    procs = []
    for device, path in files:
        with path.open("rb") as f:
            procs.append(
                subprocess.Popen(
                    [
                        MOSQUITTO_PUB,
                        "-h",
                        "127.0.0.1",
                        "-p",
                        str(port),
                        "-q",
                        "1",
                        "-M",
                        "500",
                        "-l",
                        "-t",
                        topics.telemetry(device),
                    ],
                    stdin=f,
                )
            )
    for proc in procs:
        if proc.wait(timeout=300) != 0:
            raise RuntimeError("mosquitto_pub failed")
    return start


def raw_broker_rate(port: int, files: list[tuple[str, Path]], count: int) -> float:
    """Messages/s from the same C publishers to a C subscriber (mosquitto_sub): the ceiling."""
    topics = Topics("ceiling")
    sub = subprocess.Popen(
        [
            MOSQUITTO_SUB,
            "-h",
            "127.0.0.1",
            "-p",
            str(port),
            "-q",
            "1",
            "-C",
            str(count),
            "-t",
            f"{topics.root}/#",
        ],
        stdout=subprocess.DEVNULL,
    )
    time.sleep(0.5)
    start = c_publish(port, topics, files)
    sub.wait(timeout=300)
    return count / (time.time() - start)


class SafeTwinProcess:
    def __init__(
        self,
        workdir: Path,
        broker_port: int,
        backend: str,
        influx_url: str | None,
        start_timeout_s: float = 180,
        partition: tuple[int, int] | None = None,
    ) -> None:
        """`partition`: (this worker, of how many), each with its own files under `workdir`."""
        self.port = free_port()
        env = dict(os.environ)
        worker = ""
        if partition is not None:
            worker = f"-w{partition[0]}"
            workdir = workdir / f"worker{partition[0]}"
            workdir.mkdir(parents=True, exist_ok=True)
            env["SAFETWIN_INGEST__PARTITION"] = str(partition[0])
            env["SAFETWIN_INGEST__PARTITIONS"] = str(partition[1])
        env.update(
            {
                "SAFETWIN_MQTT__URL": f"mqtt://127.0.0.1:{broker_port}",
                "SAFETWIN_MQTT__CLIENT_ID": f"bench-ingest-{backend}{worker}",
                "SAFETWIN_STORE__BACKEND": backend,
                "SAFETWIN_STORE__DUCKDB_PATH": str(workdir / "history.duckdb"),
                "SAFETWIN_STORE__SPOOL_DIR": str(workdir / "spool"),
                "SAFETWIN_STATE__SQLITE_PATH": str(workdir / "state.sqlite"),
                "SAFETWIN_DATABASE__URL": f"sqlite:///{workdir / 'ops.db'}",
                "SAFETWIN_API__PORT": str(self.port),
                "SAFETWIN_LOG_LEVEL": "WARNING",
                "SAFETWIN_VISION__ENABLED": "false",  # video analytics have their own benchmark
            }
        )
        if influx_url:
            env["SAFETWIN_STORE__INFLUX__URL"] = influx_url
            env["SAFETWIN_STORE__INFLUX__DATABASE"] = "bench"
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "safetwin", "run", "--no-dashboard"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
        )
        wait_port("127.0.0.1", self.port, timeout=start_timeout_s)
        self.http = httpx.Client(base_url=f"http://127.0.0.1:{self.port}/api/v1", timeout=10)
        self.settle()
        self._log_in()

    def _log_in(self) -> None:
        """Log in as the development administrator, where the API has accounts."""
        login = {"username": "admin", "password": "admin-dev-password"}
        r = self.http.post("/auth/login", json=login, timeout=60)
        if r.status_code == 200:
            self.http.headers["Authorization"] = f"Bearer {r.json()['token']}"

    def settle(self, busy_below: float = 0.15, limit_s: float = 90) -> None:
        """Wait until start-up work (migrations, first anomaly training, start-up alarms) is done."""
        deadline = time.monotonic() + limit_s
        while time.monotonic() < deadline:
            before = _cpu_seconds(self.proc.pid)
            time.sleep(1.0)
            if _cpu_seconds(self.proc.pid) - before < busy_below:
                return

    def written(self) -> int:
        return int(self.http.get("/status").json()["history"]["written_points"])

    def stop(self) -> None:
        self.http.close()
        self.proc.terminate()
        self.proc.wait(timeout=60)


def measure(
    st: SafeTwinProcess,
    broker_port: int,
    mode: str,
    count: int,
    files: list[tuple[str, Path]],
    devices: list[str],
) -> dict[str, Any]:
    before = st.written()
    cpu0 = _cpu_seconds(st.proc.pid)
    if mode == "single":
        start = c_publish(broker_port, Topics(), files)
    else:
        pub = _loadgen(
            "publish",
            "--port",
            str(broker_port),
            "--mode",
            "batch",
            "--count",
            str(count),
            "--devices",
            ",".join(devices),
            "--batch",
            "200",
        )
        start = _last_json(pub)["start_epoch"]
    deadline = time.monotonic() + 300
    while st.written() < before + count:
        if time.monotonic() > deadline:
            raise RuntimeError(f"only {st.written() - before} of {count} readings written in 300 s")
        time.sleep(0.02)
    elapsed = time.time() - start
    return {
        "readings_per_s": round(count / elapsed),
        "seconds": round(elapsed, 2),
        "cpu_percent": round(100 * (_cpu_seconds(st.proc.pid) - cpu0) / elapsed),
        "rss_mb": round(_rss_mb(st.proc.pid)),
    }


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--count", type=int, default=60_000, help="readings per measurement")
    p.add_argument("--backends", default="duckdb,influxdb")
    p.add_argument("--publishers", type=int, default=4, help="mosquitto_pub processes for single messages")
    args = p.parse_args()
    twin = Twin(load_twin_file(ROOT / "data" / "demo-twin.yaml"))
    devices = [d for d, place in twin.devices.items() if "co" in place.metrics]
    figures: dict[str, Any] = {"count": args.count, "cores": os.cpu_count()}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        (work / "mosquitto").mkdir()
        broker = MosquittoBroker(workdir=work / "mosquitto")
        broker.start()
        try:
            files = _line_files(work, devices, args.count, args.publishers)
            figures["raw_broker_messages_per_s"] = round(raw_broker_rate(broker.port, files, args.count))
            print(
                f"raw broker (mosquitto_pub x{args.publishers} -> mosquitto_sub, QoS 1): "
                f"{figures['raw_broker_messages_per_s']} msg/s"
            )
            for backend in args.backends.split(","):
                figures[backend] = run_backend(
                    work, broker, backend, args.count, files, devices, figures["raw_broker_messages_per_s"]
                )
        finally:
            broker.stop()
    print(orjson.dumps(figures).decode())
    return 0


def run_backend(
    work: Path,
    broker: MosquittoBroker,
    backend: str,
    count: int,
    files: list[tuple[str, Path]],
    devices: list[str],
    ceiling: float,
) -> dict[str, Any]:
    influx: InfluxServer | None = None
    out: dict[str, Any] = {}
    bdir = work / backend
    bdir.mkdir()
    if backend == "influxdb":
        (bdir / "influx").mkdir()
        influx = InfluxServer(workdir=bdir / "influx")
        influx.start()
    st = SafeTwinProcess(bdir, broker.port, backend, influx.url if influx else None)
    try:
        for mode in ("single", "batch"):
            out[mode] = measure(st, broker.port, mode, count, files, devices)
            out[mode]["ratio_to_raw_broker"] = round(out[mode]["readings_per_s"] / ceiling, 2)
            print(
                f"{backend:9s} {mode:6s}: {out[mode]['readings_per_s']:>8} readings/s "
                f"({out[mode]['seconds']} s, safetwin CPU {out[mode]['cpu_percent']} %, "
                f"RSS {out[mode]['rss_mb']} MB, {out[mode]['ratio_to_raw_broker']} of raw broker)"
            )
    finally:
        st.stop()
        if influx:
            influx.stop()
    return out


if __name__ == "__main__":
    sys.exit(main())
