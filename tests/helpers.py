"""Small helpers shared by tests: a real MQTT publisher, polling, and running computations in steps."""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections.abc import Callable, Generator
from typing import Any, TypeVar

import orjson
import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

R = TypeVar("R")


def run_steps(steps: Generator[None, None, R]) -> tuple[int, R]:
    """(how many times it yielded, its result) of a computation made of steps (core/steps.py)."""
    yields = 0
    while True:
        try:
            next(steps)
            yields += 1
        except StopIteration as done:
            return yields, done.value


def unique_prefix() -> str:
    """A topic prefix no other test uses (as aiomqtt's suite does with unique_topic())."""
    return f"st-{uuid.uuid4().hex[:10]}"


class Publisher:
    """A paho client with a persistent session; QoS 1 messages wait in paho's queue while offline."""

    def __init__(self, host: str, port: int, client_id: str | None = None) -> None:
        self.client = paho.Client(
            CallbackAPIVersion.VERSION2,
            client_id=client_id or f"pub-{uuid.uuid4().hex[:8]}",
            clean_session=False,
        )
        self.client.max_queued_messages_set(0)
        self.client.max_inflight_messages_set(1000)
        self.client.reconnect_delay_set(1, 2)
        self._lock = threading.Lock()
        self._pending: set[int] = set()
        self._acked_early: set[int] = set()
        self.client.on_publish = self._on_publish
        self.client.connect(host, port, keepalive=10)
        self.client.loop_start()

    def _on_publish(self, _c: paho.Client, _u: object, mid: int, _rc: object, _p: object) -> None:
        with self._lock:
            if mid in self._pending:
                self._pending.discard(mid)
            else:
                self._acked_early.add(mid)

    def publish(self, topic: str, payload: Any, qos: int = 1, retain: bool = False) -> None:
        body = payload if isinstance(payload, bytes) else orjson.dumps(payload)
        info = self.client.publish(topic, body, qos=qos, retain=retain)
        if info.rc not in (paho.MQTT_ERR_SUCCESS, paho.MQTT_ERR_NO_CONN):
            raise RuntimeError(f"paho refused the message: {paho.error_string(info.rc)}")
        if not qos:
            return
        with self._lock:  # the PUBACK may have come before we got here
            if info.mid in self._acked_early:
                self._acked_early.discard(info.mid)
            else:
                self._pending.add(info.mid)

    def wait_published(self, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                pending = len(self._pending)
            if not pending:
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"{pending} messages still unacknowledged by the broker")
            time.sleep(0.01)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


async def eventually(check: Callable[[], bool], timeout: float = 15.0, what: str = "condition") -> None:
    """Poll `check` until it is true; fail with `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        await asyncio.sleep(0.05)
