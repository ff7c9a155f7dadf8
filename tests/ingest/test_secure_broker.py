"""Ingest against a real Mosquitto with TLS and passwords, as production brokers run."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Iterator
from pathlib import Path

import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from core.contract import now_ms
from safetwin.runtime import SafeTwin
from tests.fixtures.mosquitto import MosquittoBroker, TlsFiles
from tests.helpers import eventually
from tests.ingest.test_end_to_end import make_settings, running

pytestmark = [pytest.mark.mosquitto]


@pytest.fixture
def secure_broker(tmp_path: Path) -> Iterator[MosquittoBroker]:
    broker = MosquittoBroker(
        workdir=tmp_path / "broker",
        tls=TlsFiles.make(tmp_path / "tls"),
        users={"safetwin": "ingest-pw", "dev-1": "device-pw"},
    )
    broker.workdir.mkdir()
    broker.start()
    yield broker
    broker.stop()


def tls_publisher(broker: MosquittoBroker) -> paho.Client:
    assert broker.tls is not None
    c = paho.Client(CallbackAPIVersion.VERSION2, client_id="dev-1")
    c.username_pw_set("dev-1", "device-pw")
    c.tls_set(ca_certs=str(broker.tls.ca), tls_version=ssl.PROTOCOL_TLS_CLIENT)
    c.connect(broker.host, broker.port)
    c.loop_start()
    return c


async def test_mqtts_with_password(tmp_path: Path, secure_broker: MosquittoBroker) -> None:
    assert secure_broker.tls is not None
    settings = make_settings(
        tmp_path,
        secure_broker.url,
        mqtt={"username": "safetwin", "password": "ingest-pw", "ca_file": secure_broker.tls.ca},
    )
    async with running(settings) as app:
        pub = tls_publisher(secure_broker)
        try:
            pub.publish(app.topics.telemetry("co-1"), b'{"metrics": {"co": 21.5}}', qos=1).wait_for_publish(
                10
            )
            await eventually(lambda: "co" in app.live.view("co-1").values, what="reading over TLS")
        finally:
            pub.disconnect()
            pub.loop_stop()
        assert app.live.view("co-1").values["co"].value == 21.5
        assert app.live.view("co-1").values["co"].ts <= now_ms()


async def test_wrong_password_is_reported_and_retried(tmp_path: Path, secure_broker: MosquittoBroker) -> None:
    """A refused login is an alarm that says why, and ingest keeps trying instead of crashing."""
    assert secure_broker.tls is not None
    settings = make_settings(
        tmp_path,
        secure_broker.url,
        mqtt={"username": "safetwin", "password": "wrong", "ca_file": secure_broker.tls.ca},
    )
    app = SafeTwin.from_settings(settings)
    task = asyncio.create_task(app.run(api=False))
    try:
        await eventually(lambda: app.subscriber.status.last_error is not None, what="a connection error")
        assert "authori" in (app.subscriber.status.last_error or "").lower()
        assert not task.done(), "ingest keeps retrying"
        assert any(a.key == "mqtt_unreachable" for a in app.system_alarms())
    finally:
        app.stopping.set()
        await asyncio.wait_for(task, 30)
