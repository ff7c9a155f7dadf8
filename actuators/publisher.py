"""The one sender of device commands: an MQTT client of its own with an outbox.

Synchronous callers (the alarm manager, inline with ingest) hand commands over with `send()`, which
never waits.  On the event loop, with the broker connected and nothing older waiting, the command is
written to the socket there and then: a fan command leaves while the batch that raised it is still
being handled, not after it.  Otherwise it waits in the outbox, which a task drains as soon as it
can; while the broker is away commands wait there until their `expires_ts`, then are dropped with an
error log: a command that is too late must not actuate.  Nothing waits for the broker's PUBACK before
the next message goes out; a message the broker has not acknowledged when the connection drops is
sent again, first, on the next connection.  Acks and states come back on the same connection to
`on_answer`: the lifecycle manager (actuators/manager.py) follows every command from there.
"""

from __future__ import annotations

import asyncio
import logging
import random
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

import aiomqtt
import paho.mqtt.client as paho

from core.contract import Command, Topics, now_ms
from core.mqtt import make_client, paho_of, reraise_if_cancelled, until_disconnected
from core.settings import MqttSettings

log = logging.getLogger(__name__)


def new_correlation_id() -> str:
    return uuid.uuid4().hex


@dataclass
class OutboxStatus:
    connected: bool = False
    sent: int = 0
    expired: int = 0
    queued: int = 0


class CommandPublisher:
    """Publishes `Command`s on the contract's command topics."""

    def __init__(
        self,
        settings: MqttSettings,
        topics: Topics,
        *,
        max_queued: int = 10_000,
        on_answer: Callable[[str, bytes], None] | None = None,
    ) -> None:
        self.settings = settings
        self.topics = topics
        # Acks and states of actuators come back on this same connection (one owner of command I/O).
        self.on_answer = on_answer
        self._outbox: deque[tuple[str, Command]] = deque(maxlen=max_queued)
        self._events: deque[tuple[str, bytes]] = deque(maxlen=max_queued)
        self._wake = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._paho: paho.Client | None = None  # while connected and subscribed
        # published, not yet acknowledged by the broker: mid -> the command or the announcement
        self._unacked: dict[int, tuple[str, Command] | tuple[str, bytes]] = {}
        self.status = OutboxStatus()
        self.sent_log: deque[tuple[str, Command]] = deque(maxlen=1000)

    def send(self, device_id: str, command: Command) -> None:
        """Send a command, or queue it if it cannot leave now; returns at once, from any thread."""
        if not self._outbox and self._on_loop() and self._write_command(device_id, command):
            return
        if len(self._outbox) == self._outbox.maxlen:
            log.error("command outbox full: the oldest command (to %s) is dropped", self._outbox[0][0])
        self._outbox.append((device_id, command))
        self.status.queued = len(self._outbox)
        self._kick()

    def announce(self, topic: str, body: bytes) -> None:
        """Queue a QoS 1 announcement (an alarm or work-order change); returns at once, from any thread."""
        self._events.append((topic, body))
        self._kick()

    def _on_loop(self) -> bool:
        try:
            return asyncio.get_running_loop() is self._loop
        except RuntimeError:
            return False

    def _write(self, topic: str, payload: bytes, item: tuple[str, Command] | tuple[str, bytes]) -> bool:
        """Publish with QoS 1 and write it to the socket now; False if the connection is not up."""
        client = self._paho
        if client is None:
            return False
        info = client.publish(topic, payload, qos=1)
        if info.rc != paho.MQTT_ERR_SUCCESS:
            return False  # this client is going away; the item stays queued for the next one
        self._unacked[info.mid] = item
        try:
            client.loop_write()  # what the socket takes now leaves now; aiomqtt's writer sends the rest
        except Exception as err:  # the connection broke: aiomqtt sees it too; the item goes out again
            log.debug("writing to the broker failed (%s); resent after reconnecting", err)
        return True

    def _write_command(self, device_id: str, command: Command) -> bool:
        topic = self.topics.command(device_id)
        if not self._write(topic, command.model_dump_json().encode(), (device_id, command)):
            return False
        self.status.sent += 1
        self.sent_log.append((device_id, command))
        return True

    def _acknowledged(self, mid: int) -> None:
        self._unacked.pop(mid, None)

    def _requeue_unacked(self) -> None:
        """The connection is gone: what the broker did not acknowledge goes out first next time."""
        commands = [i for i in self._unacked.values() if isinstance(i[1], Command)]
        events = [i for i in self._unacked.values() if not isinstance(i[1], Command)]
        self._unacked.clear()
        self._outbox.extendleft(reversed(commands))
        self._events.extendleft(reversed(events))
        self.status.queued = len(self._outbox)

    def _kick(self) -> None:
        loop = self._loop
        if loop is None:
            return  # not running yet: run() drains what waits
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            self._wake.set()
        else:
            loop.call_soon_threadsafe(self._wake.set)

    async def run(self) -> None:
        """Connect, drain the outbox, reconnect with backoff; until cancelled."""
        self._loop = asyncio.get_running_loop()
        delay = self.settings.reconnect_min_s
        client_id = f"{self.settings.client_id}-actuators"
        while True:
            try:
                # many commands may be in flight at once: none waits for the PUBACK of the one before
                client = make_client(
                    self.settings, client_id=client_id, clean=True, max_inflight_messages=1000
                )
                async with client:
                    # connecting and subscribing wait through asyncio.wait_for, which on Python 3.11 can
                    # swallow a cancellation (a stop right after start); honour it here
                    reraise_if_cancelled()
                    self.status.connected = True
                    delay = self.settings.reconnect_min_s
                    if self.on_answer is not None:
                        root = self.topics.root
                        await client.subscribe([(f"{root}/ack/+", 1), (f"{root}/state/+", 1)])
                        reraise_if_cancelled()
                    self._attach(client)
                    try:
                        async with asyncio.TaskGroup() as tg:
                            tg.create_task(self._drain_forever())
                            tg.create_task(
                                self._answers(client) if self.on_answer else until_disconnected(client)
                            )
                    finally:
                        self._detach()
            except* aiomqtt.MqttError as group:
                reraise_if_cancelled()
                self.status.connected = False
                err = group.exceptions[0]
                log.warning("actuator link to the broker down (%s); %d commands wait", err, len(self._outbox))
                await asyncio.sleep(delay * (0.8 + 0.4 * random.random()))
                delay = min(delay * 2, self.settings.reconnect_max_s)

    async def _answers(self, client: aiomqtt.Client) -> None:
        """Hand every ack and state message to `on_answer`; one bad message never stops the loop."""
        handler = self.on_answer
        assert handler is not None
        async for message in client.messages:
            payload = message.payload if isinstance(message.payload, bytes) else str(message.payload).encode()
            try:
                handler(message.topic.value, payload)
            except Exception:
                log.exception("actuator answer on %s could not be handled", message.topic.value)

    def _attach(self, client: aiomqtt.Client) -> None:
        """Publish through this connection from now on; its PUBACKs settle what it sent."""
        inner = paho_of(client)
        aiomqtt_on_publish = inner.on_publish

        def on_publish(c: paho.Client, userdata: object, mid: int, reason: object, props: object) -> None:
            self._acknowledged(mid)
            if aiomqtt_on_publish is not None:
                aiomqtt_on_publish(c, userdata, mid, reason, props)  # type: ignore[call-arg, arg-type]

        inner.on_publish = on_publish
        self._paho = inner
        self._kick()

    def _detach(self) -> None:
        self._paho = None
        self._requeue_unacked()

    async def _drain_forever(self) -> None:
        while True:
            self._wake.clear()
            while self._outbox:
                device_id, command = self._outbox[0]
                if command.expires_ts is not None and command.expires_ts < now_ms():
                    self._outbox.popleft()
                    self.status.expired += 1
                    log.error(
                        "command %s to %s expired before it could be sent (%s %s)",
                        command.correlation_id,
                        device_id,
                        command.action,
                        command.params,
                    )
                    continue
                if not self._write_command(device_id, command):
                    break
                self._outbox.popleft()
            self.status.queued = len(self._outbox)
            while self._events:
                topic, body = self._events[0]
                if not self._write(topic, body, (topic, body)):
                    break
                self._events.popleft()
            await self._wake.wait()
