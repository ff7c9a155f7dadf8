"""QoS 1 acknowledgements: sent once history holds a batch, so a restart brings nothing back twice."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from core.contract import now_ms
from tests.fixtures.mosquitto import MosquittoBroker
from tests.helpers import Publisher, eventually
from tests.ingest.test_end_to_end import history_values, make_settings, running

pytestmark = [pytest.mark.mosquitto]


@pytest.mark.parametrize("ack", ["stored", "processed"])
async def test_acknowledged_messages_are_not_sent_again(
    tmp_path: Path, mosquitto: MosquittoBroker, ack: str
) -> None:
    settings = make_settings(tmp_path, mosquitto.url, ingest={"ack": ack})
    t0 = now_ms() - 60_000
    async with running(settings) as app:
        pub = Publisher(mosquitto.host, mosquitto.port)
        try:
            for i in range(300):
                pub.publish(app.topics.telemetry("co-1"), {"ts": t0 + i, "metrics": {"co": 5.0}})
            await asyncio.to_thread(pub.wait_published)
        finally:
            pub.close()
        await eventually(lambda: app.writer.status().written_points >= 300, what="300 readings written")
    async with running(settings) as app:  # same client id: the broker resends what was not acknowledged
        await asyncio.sleep(1.5)
        assert app.pipeline.messages == 0, "every message was acknowledged before the stop"
        assert [ts for ts, _ in history_values(app, "co-1", "co")] == [t0 + i for i in range(300)]
