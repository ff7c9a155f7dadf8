"""End to end with real services: device -> broker -> ingest -> twin live state -> history."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiomqtt
import pytest

from core.contract import DeadLetter, Topics, now_ms
from safetwin.runtime import SafeTwin
from safetwin.settings import SafeTwinSettings, load
from tests.fixtures.influx import InfluxServer
from tests.fixtures.mosquitto import MosquittoBroker, free_port
from tests.helpers import Publisher, eventually, unique_prefix
from tests.ingest.conftest import SMALL_TWIN

pytestmark = [pytest.mark.mosquitto]


def make_settings(tmp_path: Path, mqtt_url: str, **extra: Any) -> SafeTwinSettings:
    twin_file = tmp_path / "twin.yaml"
    twin_file.write_text(SMALL_TWIN, encoding="utf-8")
    store: dict[str, Any] = {
        "duckdb_path": tmp_path / "h.duckdb",
        "spool_dir": tmp_path / "spool",
        "flush_interval_s": 0.1,
        "retry_interval_s": 0.3,
    }
    store.update(extra.pop("store", {}))
    mqtt: dict[str, Any] = {
        "url": mqtt_url,
        "topic_prefix": unique_prefix(),
        "reconnect_min_s": 0.1,
        "reconnect_max_s": 0.5,
        "client_id": f"ingest-{unique_prefix()}",
    }
    mqtt.update(extra.pop("mqtt", {}))
    extra.setdefault("database", {"url": f"sqlite:///{tmp_path / 'ops.db'}"})
    return load(
        mqtt=mqtt,
        store=store,
        twin={"path": twin_file},
        state={"sqlite_path": tmp_path / "state.sqlite"},
        **extra,
    )


@contextlib.asynccontextmanager
async def running(settings: SafeTwinSettings) -> AsyncIterator[SafeTwin]:
    app = SafeTwin.from_settings(settings)
    task = asyncio.create_task(app.run(api=False))
    ready = asyncio.create_task(app.ready.wait())
    done, _ = await asyncio.wait({task, ready}, timeout=20, return_when=asyncio.FIRST_COMPLETED)
    if ready not in done:
        ready.cancel()
        app.stopping.set()
        await task  # raises what went wrong
        raise AssertionError("SafeTwin did not become ready in 20 s")
    try:
        yield app
    finally:
        app.stopping.set()
        await asyncio.wait_for(task, 30)


def history_values(app: SafeTwin, device: str, metric: str) -> list[tuple[int, float]]:
    points = app.history.query(device, metric, 0, now_ms() + 3_600_000, None)
    return [(p.ts, p.mean) for p in points]


async def publish_mixed(pub: Publisher, topics: Topics, t0: int) -> None:
    for i in range(20):
        pub.publish(topics.telemetry("co-1"), {"ts": t0 + i * 1000, "seq": i, "metrics": {"co": float(i)}})
    pub.publish(
        topics.gateway_batch("gw-1"),
        {
            "readings": [
                {"device_id": "co-2", "ts": t0, "metrics": {"co": 3.5}},
                {"device_id": "gas-1", "ts": t0, "metrics": {"h2s": 4.25, "o2": 20.5}},
            ]
        },
    )
    await asyncio.to_thread(pub.wait_published)


@pytest.mark.parametrize("backend", ["duckdb", pytest.param("influxdb", marks=pytest.mark.influxdb)])
async def test_readings_reach_live_state_and_history(
    tmp_path: Path, mosquitto: MosquittoBroker, backend: str, request: pytest.FixtureRequest
) -> None:
    store: dict[str, Any] = {"backend": backend}
    if backend == "influxdb":
        influx: InfluxServer = request.getfixturevalue("influxdb")
        store["influx"] = {"url": influx.url, "database": "e2e"}
    settings = make_settings(tmp_path, mosquitto.url, store=store)
    t0 = now_ms() - 60_000
    async with running(settings) as app:
        pub = Publisher(mosquitto.host, mosquitto.port)
        try:
            await publish_mixed(pub, app.topics, t0)
            await eventually(lambda: app.writer.status().written_points >= 23, what="23 points written")
        finally:
            pub.close()
        assert app.live.view("co-1").values["co"].value == 19.0
        assert app.live.view("gas-1").values["h2s"].value == 4.25
        assert history_values(app, "co-1", "co") == [(t0 + i * 1000, float(i)) for i in range(20)]
        assert history_values(app, "gas-1", "o2") == [(t0, 20.5)]
        latest = {(r.device_id, r.metric): r for r in app.history.latest(["co-2"])}
        r = latest[("co-2", "co")]
        assert (r.value, r.unit, r.site, r.building, r.space, r.kind) == (
            3.5,
            "ppm",
            "site-a",
            "bld-1",
            "garage-1",
            "co_sensor",
        )
        assert r.received_ts >= r.ts


async def test_embedded_broker_end_to_end(tmp_path: Path) -> None:
    port = free_port()
    settings = make_settings(tmp_path, "embedded", mqtt={"embedded_port": port})
    async with running(settings) as app:
        pub = Publisher("127.0.0.1", port)
        try:
            await publish_mixed(pub, app.topics, now_ms() - 60_000)
            await eventually(lambda: app.writer.status().written_points >= 23, what="23 points written")
        finally:
            pub.close()
        assert app.live.view("co-1").values["co"].value == 19.0


async def test_bad_input_is_deadlettered_and_good_traffic_flows(
    tmp_path: Path, mosquitto: MosquittoBroker
) -> None:
    settings = make_settings(tmp_path, mosquitto.url, ingest={"max_payload_bytes": 2048})
    async with running(settings) as app:
        t = app.topics
        letters: list[DeadLetter] = []
        async with aiomqtt.Client(mosquitto.host, mosquitto.port) as watcher:
            await watcher.subscribe(f"{t.root}/deadletter/#", qos=1)
            pub = Publisher(mosquitto.host, mosquitto.port)
            bad: list[tuple[str, Any]] = [
                (t.telemetry("co-1"), b"{oops"),
                (t.telemetry("co-1"), {"metrics": {"co": "high"}}),
                (t.telemetry("co-1"), {"ts": 5}),
                (t.telemetry("ghost-7"), {"metrics": {"co": 1}}),
                (t.telemetry("co-1"), {"metrics": {"co": 1}, "pad": "x" * 4000}),
                (t.telemetry("co-1"), {"metrics": {"co": 99999}}),
            ]
            for i, (topic, payload) in enumerate(bad):
                pub.publish(t.telemetry("co-2"), {"metrics": {"co": float(i)}})
                pub.publish(topic, payload)
            pub.publish(t.telemetry("co-2"), {"metrics": {"co": 42.0}})
            await asyncio.to_thread(pub.wait_published)
            pub.close()
            async with asyncio.timeout(15):
                async for m in watcher.messages:
                    letters.append(DeadLetter.model_validate_json(m.payload))
                    if len(letters) == len(bad):
                        break
        reasons = sorted(
            (letter.device_id or "", letter.field or "", letter.reason[:30]) for letter in letters
        )
        assert [r[0] for r in reasons].count("co-1") == 5 and any(r[0] == "ghost-7" for r in reasons)
        assert any(r[1] == "metrics.co" and "valid number" in r[2] for r in reasons)
        await eventually(lambda: app.writer.status().written_points >= 7, what="good readings written")
        assert [v for _, v in history_values(app, "co-2", "co")] == [0, 1, 2, 3, 4, 5, 42]
        assert app.unregistered.list()[0].device_id == "ghost-7"
        status = app.system_status()
        assert status.ingest.dead_letters == len(bad)
        assert status.ingest.dead_letters_by_category["unknown_device"] == 1


@pytest.mark.slow
async def test_broker_restart_loses_nothing(tmp_path: Path, mosquitto: MosquittoBroker) -> None:
    """QoS 1 + persistent sessions on both sides: a broker restart mid-stream loses no reading."""
    settings = make_settings(tmp_path, mosquitto.url)
    total = 600
    t0 = now_ms() - 3_600_000
    async with running(settings) as app:
        pub = Publisher(mosquitto.host, mosquitto.port, client_id=f"dev-{unique_prefix()}")
        restarted = threading.Event()

        def produce() -> None:
            for i in range(total):
                pub.publish(
                    app.topics.telemetry("co-1"), {"ts": t0 + i, "seq": i, "metrics": {"co": i % 500}}
                )
                if i == total // 3:
                    mosquitto.restart(down_for=1.0)
                    restarted.set()
                threading.Event().wait(0.002)

        try:
            await asyncio.to_thread(produce)
            assert restarted.is_set()
            await asyncio.to_thread(pub.wait_published, 30.0)
            await eventually(lambda: app.subscriber.status.connects >= 2, what="ingest reconnect")
            await eventually(
                lambda: len({ts for ts, _ in history_values(app, "co-1", "co")}) == total,
                timeout=30,
                what=f"all {total} readings in history",
            )
        finally:
            pub.close()
        seen = sorted({ts for ts, _ in history_values(app, "co-1", "co")})
        assert seen == [t0 + i for i in range(total)]


@pytest.mark.influxdb
@pytest.mark.slow
async def test_influx_outage_every_point_arrives_once(
    tmp_path: Path, mosquitto: MosquittoBroker, influxdb: InfluxServer
) -> None:
    settings = make_settings(
        tmp_path,
        mosquitto.url,
        store={"backend": "influxdb", "influx": {"url": influxdb.url, "database": "outage"}},
    )
    total = 300
    t0 = now_ms() - 3_600_000
    async with running(settings) as app:
        pub = Publisher(mosquitto.host, mosquitto.port)
        try:
            for i in range(total):
                if i == 100:
                    await asyncio.to_thread(pub.wait_published)
                    await eventually(lambda: app.writer.status().written_points >= 100, what="first 100")
                    await asyncio.to_thread(influxdb.stop)
                if i == 200:
                    await asyncio.to_thread(pub.wait_published)
                    await eventually(lambda: app.writer.status().spooled_batches > 0, what="spooling")
                    assert any(a.key == "history_store_down" for a in app.system_alarms())
                    await asyncio.to_thread(influxdb.start)
                pub.publish(
                    app.topics.telemetry("co-2"), {"ts": t0 + i * 10, "metrics": {"co": float(i % 400)}}
                )
            await asyncio.to_thread(pub.wait_published)
        finally:
            pub.close()
        await eventually(
            lambda: app.writer.status().written_points >= total and app.writer.status().spooled_batches == 0,
            timeout=30,
            what="spool replayed",
        )
        values = history_values(app, "co-2", "co")
        assert values == [(t0 + i * 10, float(i % 400)) for i in range(total)], "every point, once, in order"
        buckets = app.history.query("co-2", "co", t0, t0 + total * 10, 1000)
        assert sum(b.count for b in buckets) == total
        assert not any(a.key == "history_store_down" for a in app.system_alarms())


async def test_readings_sent_while_safetwin_is_down_arrive_after_restart(
    tmp_path: Path, mosquitto: MosquittoBroker
) -> None:
    """The persistent session keeps what devices send while SafeTwin restarts."""
    settings = make_settings(tmp_path, mosquitto.url)
    t0 = now_ms() - 600_000
    async with running(settings) as app:
        topics = app.topics
    pub = Publisher(mosquitto.host, mosquitto.port)
    try:
        for i in range(50):
            pub.publish(topics.telemetry("co-1"), {"ts": t0 + i, "metrics": {"co": float(i)}})
        await asyncio.to_thread(pub.wait_published)
    finally:
        pub.close()
    async with running(settings) as app:
        await eventually(lambda: app.writer.status().written_points >= 50, what="the 50 waiting readings")
        assert history_values(app, "co-1", "co") == [(t0 + i, float(i)) for i in range(50)]
