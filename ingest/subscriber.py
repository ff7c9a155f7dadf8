"""The MQTT subscriber: the only reader of device telemetry on the broker.

One aiomqtt client with a fixed id and a persistent session (QoS 1, clean_session off), so the broker
keeps what devices send while SafeTwin is away.  Messages are taken off aiomqtt's queue in batches:
one await for the first, then everything already queued, and the batch goes to the pipeline at once.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass

import aiomqtt

from core.contract import Topics
from core.mqtt import make_client, publish, reraise_if_cancelled
from core.settings import MqttSettings
from ingest.pipeline import InboundMessage, IngestPipeline, PipelineResult

log = logging.getLogger(__name__)

ResultListener = Callable[[PipelineResult], None]


def _capturing_queue(holder: list[asyncio.Queue[aiomqtt.Message]]) -> type[asyncio.Queue[aiomqtt.Message]]:
    """A queue class for aiomqtt's `queue_type` that hands us the instance, so we can drain it."""

    class _Queue(asyncio.Queue[aiomqtt.Message]):
        def __init__(self, maxsize: int = 0) -> None:
            super().__init__(maxsize)
            holder.append(self)

    return _Queue


@dataclass
class SubscriberStatus:
    connected: bool = False
    connects: int = 0
    batches: int = 0
    last_error: str | None = None
    down_since_ms: int | None = None  # when the broker was last lost (or first missed)


class Subscriber:
    """Consumes the contract topics and drives the pipeline; reconnects with backoff."""

    def __init__(
        self,
        settings: MqttSettings,
        topics: Topics,
        pipeline: IngestPipeline,
        *,
        batch_max: int,
        listeners: list[ResultListener] | None = None,
    ) -> None:
        self.settings = settings
        self.topics = topics
        self.pipeline = pipeline
        self.batch_max = batch_max
        self.listeners = list(listeners or [])
        self.status = SubscriberStatus()
        self.ready = asyncio.Event()

    async def run(self) -> None:
        """Run until cancelled."""
        delay = self.settings.reconnect_min_s
        while True:
            holder: list[asyncio.Queue[aiomqtt.Message]] = []
            try:
                async with make_client(self.settings, queue_type=_capturing_queue(holder)) as client:
                    for flt in self.topics.ingest_subscriptions():
                        await client.subscribe(flt, qos=1)
                    self.status.connected = True
                    self.status.connects += 1
                    self.status.last_error = None
                    self.status.down_since_ms = None
                    self.ready.set()
                    log.info("ingest connected to %s, subscribed to %s/#", self._where(), self.topics.root)
                    delay = self.settings.reconnect_min_s
                    await self._consume(client, holder[0])
            except aiomqtt.MqttError as err:
                reraise_if_cancelled()
                self.status.connected = False
                self.status.last_error = str(err)
                if self.status.down_since_ms is None:
                    self.status.down_since_ms = time.time_ns() // 1_000_000
                wait = delay * (0.8 + 0.4 * random.random())  # jitter, not crypto
                log.warning("broker %s unavailable (%s); reconnecting in %.1f s", self._where(), err, wait)
                await asyncio.sleep(wait)
                delay = min(delay * 2, self.settings.reconnect_max_s)
            finally:
                self.status.connected = False

    def _where(self) -> str:
        host, port, tls = self.settings.endpoint()
        return f"{'mqtts' if tls else 'mqtt'}://{host}:{port}"

    async def _consume(self, client: aiomqtt.Client, queue: asyncio.Queue[aiomqtt.Message]) -> None:
        messages = client.messages
        while True:
            first = await anext(messages)
            batch = [first]
            while len(batch) < self.batch_max:
                try:
                    batch.append(queue.get_nowait())
                except asyncio.QueueEmpty:
                    break
            await self._handle(client, batch)

    async def _handle(self, client: aiomqtt.Client, batch: list[aiomqtt.Message]) -> None:
        now = time.time_ns() // 1_000_000
        inbound = [
            InboundMessage(
                m.topic.value,
                m.payload if isinstance(m.payload, bytes) else bytes(str(m.payload), "utf-8"),
                now,
            )
            for m in batch
        ]
        result = self.pipeline.process(inbound)
        self.status.batches += 1
        for listener in self.listeners:
            try:
                listener(result)
            except Exception:  # one bad listener must not stop ingest
                log.exception("a pipeline listener failed; ingest goes on")
        for category, letter in result.dead_letters:
            await publish(client, self.topics.deadletter(category), letter.model_dump_json(), qos=0)
