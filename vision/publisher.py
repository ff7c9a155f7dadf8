"""Publishes detection events on the MQTT contract, as an AI camera does (QoS 1, not retained).

One aiomqtt client for all cameras; events wait in a bounded queue while the broker is away and the
oldest are dropped (and counted) when it is full, so a dead broker never blocks analytics.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections import deque
from dataclasses import dataclass

import aiomqtt

from core.contract import Detection, Topics
from core.mqtt import make_client, publish, reraise_if_cancelled, until_disconnected
from core.settings import MqttSettings

log = logging.getLogger(__name__)


@dataclass(slots=True)
class PublisherStatus:
    connected: bool = False
    published: int = 0
    dropped: int = 0
    last_error: str | None = None


class EventPublisher:
    """A queue of detection events and the task that sends them."""

    def __init__(self, mqtt: MqttSettings, topics: Topics, *, client_id: str, queue_max: int) -> None:
        self.mqtt = mqtt
        self.topics = topics
        self.client_id = client_id
        self._queue: deque[tuple[str, bytes]] = deque()
        self._queue_max = queue_max
        self._ready = asyncio.Event()
        self.status = PublisherStatus()

    def submit(self, camera_id: str, detection: Detection) -> None:
        """Queue one event for `camera_id`'s detection topic; never blocks."""
        if len(self._queue) >= self._queue_max:
            self._queue.popleft()
            self.status.dropped += 1
            if self.status.dropped in (1, 10, 100) or self.status.dropped % 1000 == 0:
                log.warning(
                    "vision publisher: %d events dropped, the broker has been away too long (queue of %d)",
                    self.status.dropped,
                    self._queue_max,
                )
        payload = detection.model_dump_json(exclude_none=False).encode()
        self._queue.append((self.topics.detection(camera_id), payload))
        self._ready.set()

    @property
    def pending(self) -> int:
        return len(self._queue)

    async def run(self) -> None:
        """Connect, send, reconnect with backoff; until cancelled."""
        delay = self.mqtt.reconnect_min_s
        while True:
            try:
                async with make_client(self.mqtt, client_id=self.client_id, clean=True) as client:
                    self.status.connected, self.status.last_error = True, None
                    delay = self.mqtt.reconnect_min_s
                    log.info("vision publisher connected as %s", self.client_id)
                    async with asyncio.TaskGroup() as tg:
                        tg.create_task(self._send(client))
                        tg.create_task(until_disconnected(client))
            except* aiomqtt.MqttError as group:
                reraise_if_cancelled()
                err = group.exceptions[0]
                self.status.last_error = str(err)
                wait = delay * (0.8 + 0.4 * random.random())  # jitter, not crypto
                log.warning("vision publisher: broker unavailable (%s); reconnecting in %.1f s", err, wait)
                await asyncio.sleep(wait)
                delay = min(delay * 2, self.mqtt.reconnect_max_s)
            finally:
                self.status.connected = False

    async def _send(self, client: aiomqtt.Client) -> None:
        while True:
            while not self._queue:
                self._ready.clear()
                await self._ready.wait()
            topic, payload = self._queue[0]
            await publish(client, topic, payload, qos=1)
            self._queue.popleft()  # only once the broker has it: a lost connection keeps it queued
            self.status.published += 1

    async def drain(self, timeout: float) -> bool:
        """Wait until the queue is empty (True) or `timeout` s pass (False)."""
        loop = asyncio.get_running_loop()
        end = loop.time() + timeout
        while self._queue and loop.time() < end:
            await asyncio.sleep(0.02)
        return not self._queue
