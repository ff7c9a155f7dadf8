"""Several ingest + rules workers on one real Mosquitto, sharing the load by site partition."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path
from typing import Any

import pytest

from core.contract import Topics, now_ms
from ingest.partition import Partition, stable_partition
from safetwin.runtime import SafeTwin
from tests.fixtures.mosquitto import MosquittoBroker
from tests.helpers import Publisher, eventually, unique_prefix
from tests.ingest.test_end_to_end import make_settings, running
from twin.loader import parse_twin
from twin.twin import Twin

pytestmark = [pytest.mark.mosquitto]

SITES = 8
WORKERS = 3


def partitioned_twin() -> str:
    """Eight sites, each with a gateway, two CO sensors behind it and one that reports directly."""
    sites = []
    for s in range(SITES):
        sites.append(
            f"""
  - id: site-{s}
    name: 社区{s}
    location: {{lat: 22.7, lon: 114.0}}
    gateways: [{{id: gw-{s}, name: 网关{s}}}]
    spaces:
      - id: garage-{s}
        name: 车库{s}
        kind: basement_garage
        location: {{lat: 22.7, lon: 114.0}}
        devices:
          - {{id: co-{s}-a, kind: co_sensor, gateway: gw-{s}}}
          - {{id: co-{s}-b, kind: co_sensor, gateway: gw-{s}}}
          - {{id: co-{s}-c, kind: co_sensor}}"""
        )
    return "version: 1\nname: 分区\nsites:" + "".join(sites) + "\n"


def test_partition_keeps_a_site_together() -> None:
    twin = Twin(parse_twin(partitioned_twin()))
    topics = Topics("p")
    parts = [Partition(twin, topics, WORKERS, k) for k in range(WORKERS)]
    for s in range(SITES):
        topics_of_site = [
            topics.telemetry(f"co-{s}-c"),
            topics.gateway_batch(f"gw-{s}"),
            topics.availability(f"co-{s}-a"),
        ]
        owners = {k for t in topics_of_site for k, p in enumerate(parts) if p.keeps(t)}
        assert owners == {stable_partition(f"site-{s}", WORKERS)}
    for topic in (topics.telemetry("ghost"), "elsewhere/x", topics.root + "/telemetry/"):
        assert sum(p.keeps(topic) for p in parts) == 1, topic
    assert len({stable_partition(f"site-{s}", WORKERS) for s in range(SITES)}) > 1


async def test_each_reading_is_handled_once_by_the_worker_of_its_site(
    tmp_path: Path, mosquitto: MosquittoBroker
) -> None:
    prefix = unique_prefix()
    apps: list[SafeTwin] = []
    async with contextlib.AsyncExitStack() as stack:
        for k in range(WORKERS):
            work = tmp_path / f"worker-{k}"
            work.mkdir()
            settings = make_settings(
                work,
                mosquitto.url,
                mqtt={"topic_prefix": prefix, "client_id": f"worker-{k}-{prefix}"},
                ingest={"partitions": WORKERS, "partition": k},
                vision={"enabled": False},
            )
            Path(settings.twin.path).write_text(partitioned_twin(), encoding="utf-8")
            apps.append(await stack.enter_async_context(running(settings)))
        topics = apps[0].topics
        per_device = 40
        t0 = now_ms() - 600_000
        pub = Publisher(mosquitto.host, mosquitto.port)
        try:
            for i in range(per_device):
                for s in range(SITES):
                    pub.publish(topics.telemetry(f"co-{s}-c"), {"ts": t0 + i, "metrics": {"co": 3.0}})
                    readings: list[dict[str, Any]] = [
                        {"device_id": f"co-{s}-{x}", "ts": t0 + i, "metrics": {"co": 4.0}} for x in "ab"
                    ]
                    pub.publish(topics.gateway_batch(f"gw-{s}"), {"readings": readings})
            pub.publish(topics.telemetry("ghost-1"), {"metrics": {"co": 1.0}})
            await asyncio.to_thread(pub.wait_published)
        finally:
            pub.close()
        total = per_device * SITES * 3
        await eventually(
            lambda: sum(a.writer.status().written_points for a in apps) >= total,
            what=f"{total} readings written across the workers",
        )
        await asyncio.sleep(0.3)  # anything handled twice would show up now
        written = [a.writer.status().written_points for a in apps]
        assert [a.pipeline.accepted_readings for a in apps] == written
        assert sum(a.pipeline.accepted_readings for a in apps) == total, "every reading exactly once"
        assert sum(a.dead_letters.total for a in apps) == 1, "the unknown device is dead-lettered once"
        for s in range(SITES):
            owner = stable_partition(f"site-{s}", WORKERS)
            for dev in (f"co-{s}-a", f"co-{s}-b", f"co-{s}-c"):
                holders = [k for k, a in enumerate(apps) if a.live.devices[dev].values]
                assert holders == [owner], f"{dev}: live state in workers {holders}"
                rule_state = [k for k, a in enumerate(apps) if a.ops.rules.last_received(dev) is not None]
                assert rule_state == [owner], f"{dev}: rule state in workers {rule_state}"
                points = [len(a.history.query(dev, "co", 0, now_ms(), None)) for a in apps]
                assert points[owner] == per_device and sum(points) == per_device
        assert all(a.subscriber.status.foreign > 0 for a in apps)
