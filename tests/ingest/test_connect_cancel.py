"""A connection attempt cancelled while paho connects in its thread ends only once that connect has."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

from ingest.subscriber import _BatchClient, _LoopIO


class _SlowConnect(_BatchClient):
    """A client whose connect blocks until the test lets it go, then records that it ended."""

    def __init__(self) -> None:
        super().__init__(CallbackAPIVersion.VERSION2, client_id="slow", protocol=paho.MQTTv311)
        self.entered = threading.Event()
        self.release = threading.Event()
        self.ended = threading.Event()

    def reconnect(self) -> Any:
        self.entered.set()
        self.release.wait(10)
        self.ended.set()
        raise ConnectionRefusedError("test broker refused")


async def test_a_cancelled_attempt_waits_for_the_connect_in_its_thread() -> None:
    client = _SlowConnect()
    io = _LoopIO(asyncio.get_running_loop(), client)
    attempt = asyncio.create_task(io.connect())
    await asyncio.to_thread(client.entered.wait, 10)
    attempt.cancel()
    await asyncio.sleep(0.05)
    assert not attempt.done()  # paho is still connecting: the attempt waits for it
    client.release.set()
    with contextlib.suppress(asyncio.CancelledError):
        await asyncio.wait_for(attempt, 10)
    assert client.ended.is_set()
    assert attempt.cancelled()
