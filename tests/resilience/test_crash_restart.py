"""kill -9 of a SafeTwin worker in the middle of a stream, then a restart."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path

import pytest

from core.contract import Topics, now_ms
from store.duckdb_store import DuckDBHistory
from tests.fixtures.mosquitto import MosquittoBroker
from tests.helpers import Publisher, eventually, unique_prefix
from tests.resilience.support import SafeTwinProcess, Watcher, safetwin_env

pytestmark = [pytest.mark.mosquitto, pytest.mark.slow]


async def test_kill_9_mid_stream_loses_nothing_and_commands_nothing_twice(
    tmp_path: Path, mosquitto: MosquittoBroker
) -> None:
    """QoS 1, a persistent session and acknowledgement only once history holds a reading: after a
    kill -9 and a restart every reading is in history, the active alarm and the pending on-delay come
    back from their snapshots, and the fan is started once."""
    prefix = unique_prefix()
    topics = Topics(prefix)
    st = SafeTwinProcess(safetwin_env(tmp_path, mosquitto, prefix), tmp_path / "safetwin.log")
    watcher = Watcher(mosquitto, topics)
    pub = Publisher(mosquitto.host, mosquitto.port, client_id=f"dev-{prefix}")
    total, t0 = 3000, now_ms() - 3_600_000
    killed = threading.Event()
    try:
        st.start()
        await asyncio.sleep(1.0)  # subscribed

        def stream() -> None:
            for i in range(total):
                pub.publish(topics.telemetry("co-2"), {"ts": t0 + i, "metrics": {"co": float(i % 40)}})
                time.sleep(0.002)  # about 400 readings/s

        streaming = asyncio.create_task(asyncio.to_thread(stream))
        pub.publish(topics.telemetry("co-1"), {"metrics": {"co": 150.0}})
        await eventually(lambda: watcher.fan_on_commands("fan-1") == 1, what="the fan started")
        pub.publish(topics.telemetry("co-3"), {"metrics": {"co": 150.0}})  # its on-delay starts now
        await asyncio.sleep(1.0)  # the rule snapshot (every 0.3 s) holds the pending timer
        assert not watcher.active("res-co-delayed", "co-3"), "the on-delay is 4 s"
        st.kill()
        killed.set()
        await asyncio.sleep(1.0)
        st.start()
        await streaming
        await asyncio.to_thread(pub.wait_published, 30.0)
        await eventually(
            lambda: watcher.active("res-co-delayed", "co-3"),
            timeout=20,
            what="the restored on-delay raising its alarm without a new reading",
        )
        await asyncio.sleep(2.0)  # a second fan command, if one were coming
    finally:
        pub.close()
        watcher.close()
        st.stop()
    assert killed.is_set()
    assert watcher.fan_on_commands("fan-1") == 1, f"fan commands: {watcher.commands}"
    assert watcher.raised_count("res-co-now", "co-1") == 1, "the active alarm was restored, not raised again"
    history = DuckDBHistory(tmp_path / "history.duckdb")
    history.open()
    try:
        stored = [p.ts for p in history.query("co-2", "co", t0, t0 + total, None)]
    finally:
        history.close()
    assert set(stored) == {t0 + i for i in range(total)}, f"{total - len(set(stored))} readings lost"
