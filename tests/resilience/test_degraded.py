"""Under load: malformed traffic, a history store that goes away, a spool that fills up.

Rates are modest (hundreds to a few thousand messages/s) so CI stays quick; the outages last seconds,
not the minute of a real incident: the code paths are the same.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest

from bench.rawmqtt import RawPublisher
from core.alarms import AlarmState
from core.contract import Topics, now_ms
from safetwin.runtime import SafeTwin
from tests.fixtures.influx import InfluxServer
from tests.fixtures.mosquitto import MosquittoBroker, free_port
from tests.helpers import eventually
from tests.ingest.test_end_to_end import history_values, make_settings, running
from tests.resilience.support import PACK, TWIN

pytestmark = [pytest.mark.mosquitto, pytest.mark.slow]


def settings_with_rules(tmp_path: Path, mosquitto: MosquittoBroker, **extra: Any) -> Any:
    pack = tmp_path / "pack.yaml"
    pack.write_text(PACK, encoding="utf-8")
    settings = make_settings(
        tmp_path,
        mosquitto.url,
        rules={"packs": [pack], "tick_interval_s": 0.2},
        vision={"enabled": False},
        **extra,
    )
    Path(settings.twin.path).write_text(TWIN, encoding="utf-8")
    return settings


def rule_alarm_active(app: SafeTwin) -> bool:
    """True once the test rule's alarm on co-1 is active: rules are being evaluated."""
    alarms, _ = app.ops.alarms.list_alarms(source_id="co-1")
    return any(a.rule_id == "res-co-now" and a.state == AlarmState.ACTIVE for a in alarms)


def bad_messages(topics: Topics, n: int) -> list[tuple[str, bytes]]:
    """`n` malformed messages of every kind ingest refuses."""
    kinds = [
        (topics.telemetry("co-1"), b"{not json"),
        (topics.telemetry("co-1"), b'{"metrics": {"co": "high"}}'),
        (topics.telemetry("co-1"), b'{"metrics": {"radon": 1.0}}'),
        (topics.telemetry("co-1"), b'{"metrics": {"co": 99999}}'),
        (topics.telemetry("ghost-9"), b'{"metrics": {"co": 1.0}}'),
        (topics.root + "/telemetry/", b"{}"),
        (topics.gateway_batch("gw-x"), b'{"readings": [{"device_id": "co-1", "metrics": {}}]}'),
        (topics.telemetry("co-1"), b'{"metrics": {"co": 1.0}, "pad": "' + b"x" * 3000 + b'"}'),
    ]
    return [kinds[i % len(kinds)] for i in range(n)]


async def test_ten_thousand_malformed_messages_among_valid_traffic(
    tmp_path: Path, mosquitto: MosquittoBroker
) -> None:
    settings = settings_with_rules(tmp_path, mosquitto, ingest={"max_payload_bytes": 2048})
    async with running(settings) as app:
        t = app.topics
        bad = bad_messages(t, 10_000)
        good, t0 = 2_000, now_ms() - 60_000
        pub = RawPublisher(mosquitto.host, mosquitto.port, f"mixed-{t.prefix}")
        packets = []
        for i in range(good):
            body = b'{"ts": %d, "metrics": {"co": %d.0}}' % (t0 + i, i % 40)
            packets.append(pub.packet(t.telemetry("co-2"), body))
            for topic, payload in bad[i * 5 : i * 5 + 5]:
                packets.append(pub.packet(topic, payload))
        for k in range(0, len(packets), 500):
            pub.send(b"".join(packets[k : k + 500]))
            await asyncio.sleep(0.01)
        assert await asyncio.to_thread(pub.wait_acked, len(packets))
        pub.close()
        try:
            await eventually(lambda: app.dead_letters.total >= 10_000, timeout=60, what="10,000 dead letters")
        except AssertionError as err:
            raise AssertionError(
                f"{err}: {dict(app.dead_letters.by_category)}, {app.pipeline.messages} messages"
            ) from None
        await eventually(
            lambda: app.writer.status().written_points >= good, timeout=30, what="the good readings"
        )
        assert [ts for ts, _ in history_values(app, "co-2", "co")] == [t0 + i for i in range(good)]
        await asyncio.sleep(0.5)
        assert app.dead_letters.total == 10_000, "every bad message dead-lettered once"
        by = app.dead_letters.by_category
        assert {
            "invalid",
            "unknown_metric",
            "out_of_range",
            "unknown_device",
            "bad_topic",
            "oversize",
        } <= set(by)
        # still up and still evaluating rules
        pub2 = RawPublisher(mosquitto.host, mosquitto.port, f"after-{t.prefix}")
        pub2.send(pub2.packet(t.telemetry("co-1"), b'{"metrics": {"co": 150.0}}'))
        assert await asyncio.to_thread(pub2.wait_acked, 1)
        pub2.close()
        await eventually(lambda: rule_alarm_active(app), what="a rule still firing")


async def _stream(pub: RawPublisher, topics: Topics, t0: int, total: int, rate: int) -> None:
    start = time.monotonic()
    for i in range(0, total, 50):
        body = [
            pub.packet(topics.telemetry("co-2"), b'{"ts": %d, "metrics": {"co": 5.0}}' % (t0 + k))
            for k in range(i, min(total, i + 50))
        ]
        pub.send(b"".join(body))
        ahead = (i + 50) / rate - (time.monotonic() - start)
        await asyncio.sleep(max(0.0, ahead))


@pytest.mark.influxdb
async def test_influx_stopped_under_load_rules_go_on_and_nothing_is_lost(
    tmp_path: Path, mosquitto: MosquittoBroker, influxdb: InfluxServer
) -> None:
    settings = settings_with_rules(
        tmp_path,
        mosquitto,
        store={"backend": "influxdb", "influx": {"url": influxdb.url, "database": "load"}},
    )
    total, t0 = 6_000, now_ms() - 3_600_000
    async with running(settings) as app:
        t = app.topics
        pub = RawPublisher(mosquitto.host, mosquitto.port, f"load-{t.prefix}")
        streaming = asyncio.create_task(_stream(pub, t, t0, total, rate=1_000))
        await asyncio.sleep(1.5)
        await asyncio.to_thread(influxdb.stop)
        await eventually(
            lambda: any(a.key == "history_store_down" for a in app.system_alarms()),
            what="degraded-store alarm",
        )
        pub.send(pub.packet(t.telemetry("co-1"), b'{"metrics": {"co": 150.0}}'))
        await eventually(
            lambda: rule_alarm_active(app),
            what="rules evaluating while history is down",
        )
        await asyncio.sleep(2.0)
        await asyncio.to_thread(influxdb.start)
        await streaming
        assert await asyncio.to_thread(pub.wait_acked, total + 1)
        pub.close()
        await eventually(
            lambda: (
                app.writer.status().written_points >= total + 1 and app.writer.status().spooled_batches == 0
            ),
            timeout=60,
            what="the spool replayed",
        )
        assert sorted({ts for ts, _ in history_values(app, "co-2", "co")}) == [t0 + i for i in range(total)]
        assert app.writer.status().dropped_points == 0
        assert not any(a.key == "history_store_down" for a in app.system_alarms())


async def test_full_spool_raises_the_alarm_and_rules_go_on(
    tmp_path: Path, mosquitto: MosquittoBroker
) -> None:
    """InfluxDB unreachable from the start and a spool of 64 KiB: it fills, and that is an alarm."""
    settings = settings_with_rules(
        tmp_path,
        mosquitto,
        store={
            "backend": "influxdb",
            "influx": {"url": f"http://127.0.0.1:{free_port()}", "database": "none", "timeout_s": 0.5},
            "spool_max_bytes": 64 * 1024,
        },
    )
    async with running(settings) as app:
        t = app.topics
        pub = RawPublisher(mosquitto.host, mosquitto.port, f"full-{t.prefix}")
        await _stream(pub, t, now_ms() - 600_000, 3_000, rate=2_000)
        await eventually(
            lambda: any(a.key == "history_spool_full" for a in app.system_alarms()), what="spool-full alarm"
        )
        status = app.writer.status()
        assert status.spool_full and status.dropped_points > 0
        assert status.spooled_bytes <= 64 * 1024
        pub.send(pub.packet(t.telemetry("co-1"), b'{"metrics": {"co": 150.0}}'))
        assert await asyncio.to_thread(pub.wait_acked, 3_001)
        pub.close()
        await eventually(lambda: rule_alarm_active(app), what="rules still firing")
        assert isinstance(app, SafeTwin)
