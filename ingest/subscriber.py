"""The MQTT subscriber: the only reader of device telemetry on the broker.

One paho client with a fixed id and a persistent session (QoS 1, clean_session off), so the broker
keeps what devices send while SafeTwin is away.  paho's network loop runs in its own thread; its
`on_message` only appends (topic, payload, mid) to a buffer and wakes the event loop once per batch,
not once per message.  The event loop takes everything buffered as one batch, runs the pipeline and
its listeners (history, rules) synchronously, and acknowledges the batch's QoS 1 messages only once
history holds them (written or spooled): a SafeTwin killed at any moment has every unacknowledged
reading sent again by the broker on its next start.  Acknowledgement is therefore at least once;
history keys readings by (device, metric, ts), and rule state survives through its snapshots.

Scale-out: several workers share the load either by partition (`ingest.partitions` > 1: each worker
subscribes to everything and keeps the sites whose stable hash falls in its partition, so a device,
its gateway and its neighbours always meet in one worker, with any broker), or by a shared
subscription (`ingest.shared_group`: `$share/<group>/...`, correct only with a broker that routes a
topic always to the same member, such as EMQX with `hash_topic`).  See docs/scaling.md.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode

from core.contract import Topics
from core.settings import MqttSettings
from ingest.partition import Partition
from ingest.pipeline import InboundMessage, IngestPipeline, PipelineResult

log = logging.getLogger(__name__)

ResultListener = Callable[[PipelineResult], None]
# Calls its argument once everything handed to history so far is stored (written or spooled).
WhenStored = Callable[[Callable[[], None]], None]

Raw = tuple[str, bytes | bytearray, int]  # topic, payload, mid of a QoS 1 message (0 for QoS 0)


@dataclass
class SubscriberStatus:
    connected: bool = False
    connects: int = 0
    batches: int = 0
    messages: int = 0
    foreign: int = 0  # messages of another worker's partition, acknowledged and skipped
    last_error: str | None = None
    down_since_ms: int | None = None  # when the broker was last lost (or first missed)


class _Inbox:
    """What paho's thread hands to the event loop: a buffer, and one wake-up per batch."""

    def __init__(self, loop: asyncio.AbstractEventLoop, wake: asyncio.Event, max_messages: int) -> None:
        self._loop = loop
        self._wake = wake
        self._max = max_messages
        self._cond = threading.Condition()
        self._buf: list[Raw] = []
        self._signalled = False
        self._closed = False

    def put(self, item: Raw) -> None:
        """From paho's thread; waits while the buffer is full, so TCP pushes back on the broker."""
        with self._cond:
            while len(self._buf) >= self._max and not self._closed:
                self._cond.wait(0.5)
            self._buf.append(item)
            if not self._signalled:
                self._signalled = True
                self._loop.call_soon_threadsafe(self._wake.set)

    def take(self, most: int) -> list[Raw]:
        """From the event loop: up to `most` buffered messages, oldest first."""
        with self._cond:
            if len(self._buf) <= most:
                out, self._buf = self._buf, []
                self._signalled = False
            else:
                out, self._buf = self._buf[:most], self._buf[most:]
                self._wake.set()  # more is waiting: come back after letting other tasks run
            self._cond.notify_all()
            return out

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()


_PUBACK = 0x40


_READ_CHUNK = 256 * 1024  # bytes taken from the socket per system call
_READ_BURST = 2_000  # packets handled per wake-up of the network thread, before it lets writes out


class _BatchClient(paho.Client):
    """paho with the per-message costs of a high-rate subscriber taken out.

    - Reads are buffered: paho reads each packet with three or more `recv` calls (the command byte,
      each length byte, the rest), and every `recv` lets go of the GIL.  While the event loop is busy
      a thread that lets go waits up to the switch interval (5 ms) to get it back, so paho's thread
      fell behind by one message per wait, and readings sat in the socket for up to 150 ms before
      SafeTwin even saw them.  Here one `recv` takes up to 256 KB, and paho's reads are served from
      that buffer.
    - `loop_read` handles every packet that has arrived (up to `_READ_BURST` per wake-up), where
      paho's handles one per `select`.
    - Every message goes straight to `sink`: no per-topic callback matching (we register none).
    - `ack_all` queues the PUBACKs of a whole batch as one write, where paho's `ack` queues one
      packet and wakes its network thread once per message.
    All lean on paho 2's internals (`_sock_recv`, `_packet_read`, `_handle_on_message`,
    `_packet_queue`); pyproject pins paho < 3.
    """

    sink: Callable[[paho.MQTTMessage], None]
    _rbuf: bytearray
    _rbuf_of: object = None  # the socket the buffered bytes came from

    def _sock_recv(self, bufsize: int) -> bytes:
        if self._rbuf_of is not self._sock:  # a new connection: nothing buffered belongs to it
            self._rbuf, self._rbuf_of = bytearray(), self._sock
        buf = self._rbuf
        if not buf:
            chunk = super()._sock_recv(_READ_CHUNK)  # raises BlockingIOError when nothing is there
            if not chunk:
                return chunk  # the broker closed the connection
            buf += chunk
        out = bytes(buf[:bufsize])
        del buf[:bufsize]
        return out

    def loop_read(self, max_packets: int = 1) -> MQTTErrorCode:
        if self._sock is None:
            return MQTTErrorCode.MQTT_ERR_NO_CONN
        handled = 0
        while True:
            # stop between bursts only with nothing buffered: select() cannot see the buffer
            if handled >= _READ_BURST and not self._rbuf:
                return MQTTErrorCode.MQTT_ERR_SUCCESS
            rc = self._packet_read()
            handled += 1
            if rc == MQTTErrorCode.MQTT_ERR_AGAIN:
                return MQTTErrorCode.MQTT_ERR_SUCCESS
            if rc > 0:
                return self._loop_rc_handle(rc)
            if self._sock is None:
                return MQTTErrorCode.MQTT_ERR_NO_CONN

    def _handle_on_message(self, message: paho.MQTTMessage) -> None:
        self.sink(message)

    def ack_all(self, mids: list[int]) -> None:
        """PUBACK every mid, in order (MQTT 3.1.1 4.6), as one write; callable from any thread."""
        packet = b"".join(struct.pack("!BBH", _PUBACK, 2, mid) for mid in mids)
        self._packet_queue(_PUBACK, packet, 0, 0)  # a deque append and one wake-up, as paho's publish


class Subscriber:
    """Consumes the contract topics and drives the pipeline; paho reconnects with backoff."""

    def __init__(
        self,
        settings: MqttSettings,
        topics: Topics,
        pipeline: IngestPipeline,
        *,
        batch_max: int,
        listeners: list[ResultListener] | None = None,
        when_stored: WhenStored | None = None,
        partition: Partition | None = None,
        shared_group: str | None = None,
    ) -> None:
        self.settings = settings
        self.topics = topics
        self.pipeline = pipeline
        self.batch_max = batch_max
        self.listeners = list(listeners or [])
        self.when_stored = when_stored
        self.partition = partition
        self.shared_group = shared_group
        self.status = SubscriberStatus()
        self.ready = asyncio.Event()
        self._client: _BatchClient | None = None

    def subscriptions(self) -> list[str]:
        """The topic filters, under `$share/<group>/` when a shared group is set."""
        filters = self.topics.ingest_subscriptions()
        if self.shared_group:
            return [f"$share/{self.shared_group}/{f}" for f in filters]
        return filters

    async def run(self) -> None:
        """Run until cancelled."""
        loop = asyncio.get_running_loop()
        wake = asyncio.Event()
        inbox = _Inbox(loop, wake, max_messages=self.batch_max * 4)
        client = self._make_client(loop, inbox)
        self._client = client
        host, port, _ = self.settings.endpoint()
        client.connect_async(host, port, keepalive=self.settings.keepalive_s)
        client.loop_start()
        try:
            while True:
                await wake.wait()
                wake.clear()
                batch = inbox.take(self.batch_max)
                if batch:
                    self._handle(client, batch)
                await asyncio.sleep(0)  # let the command publisher and the API run between batches
        finally:
            inbox.close()
            await asyncio.to_thread(self._close, client)

    def _close(self, client: paho.Client) -> None:
        """Let history store what was processed, so its acknowledgements go out, then disconnect."""
        if self.when_stored is not None:
            done = threading.Event()
            self.when_stored(done.set)
            if not done.wait(10):
                log.warning("history did not store the last batches in 10 s; the broker sends them again")
        client.disconnect()
        client.loop_stop()
        self.status.connected = False

    # --- paho (its network thread) ---------------------------------------------------------------

    def _make_client(self, loop: asyncio.AbstractEventLoop, inbox: _Inbox) -> _BatchClient:
        s = self.settings
        client = _BatchClient(
            CallbackAPIVersion.VERSION2,
            client_id=s.client_id,
            clean_session=False,
            protocol=paho.MQTTv311,
        )
        client.manual_ack_set(True)
        client.max_queued_messages_set(0)
        # paho's annotation says int; it waits fractional seconds just as well
        client.reconnect_delay_set(cast(int, s.reconnect_min_s), cast(int, s.reconnect_max_s))
        if s.username is not None:
            client.username_pw_set(s.username, s.password.get_secret_value() if s.password else None)
        if s.endpoint()[2]:
            client.tls_set_context(ssl.create_default_context(cafile=str(s.ca_file) if s.ca_file else None))
        put = inbox.put

        def on_message(msg: paho.MQTTMessage) -> None:
            put((msg.topic, msg.payload, msg.mid if msg.qos else 0))

        def on_connect(c: paho.Client, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
            if reason.is_failure:
                self._lost(f"broker refused the connection: {reason}")
                return
            c.subscribe([(f, 1) for f in self.subscriptions()])
            self.status.connected = True
            self.status.connects += 1
            self.status.last_error = None
            self.status.down_since_ms = None
            log.info("ingest connected to %s, subscribed to %s/#", self._where(), self.topics.root)

        def on_subscribe(_c: paho.Client, _u: Any, _mid: int, _codes: Any, _p: Any) -> None:
            loop.call_soon_threadsafe(self.ready.set)

        def on_disconnect(_c: paho.Client, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
            if self.status.connected and reason.is_failure:  # a refused CONNACK keeps its own reason
                self._lost(str(reason))
            self.status.connected = False

        def on_connect_fail(_c: paho.Client, _u: Any) -> None:
            self._lost("connection failed")

        client.sink = on_message
        client.on_connect = on_connect
        client.on_subscribe = on_subscribe
        client.on_disconnect = on_disconnect
        client.on_connect_fail = on_connect_fail
        return client

    def _lost(self, why: str) -> None:
        was = self.status.connected
        self.status.connected = False
        self.status.last_error = why
        if self.status.down_since_ms is None:
            self.status.down_since_ms = time.time_ns() // 1_000_000
        if was or self.status.connects == 0:
            log.warning("broker %s unavailable (%s); paho reconnects with backoff", self._where(), why)

    def _where(self) -> str:
        host, port, tls = self.settings.endpoint()
        return f"{'mqtts' if tls else 'mqtt'}://{host}:{port}"

    # --- the event loop ---------------------------------------------------------------------------

    def _handle(self, client: _BatchClient, batch: list[Raw]) -> None:
        now = time.time_ns() // 1_000_000
        keep = self.partition.keeps if self.partition is not None else None
        inbound = [InboundMessage(t, bytes(p), now) for t, p, _ in batch if keep is None or keep(t)]
        self.status.messages += len(batch)
        self.status.foreign += len(batch) - len(inbound)
        result = self.pipeline.process(inbound)
        self.status.batches += 1
        for listener in self.listeners:
            try:
                listener(result)
            except Exception:  # one bad listener must not stop ingest
                log.exception("a pipeline listener failed; ingest goes on")
        for category, letter in result.dead_letters:
            client.publish(self.topics.deadletter(category), letter.model_dump_json(), qos=0)
        mids = [mid for _, _, mid in batch if mid]
        if not mids:
            return
        if self.when_stored is None:
            client.ack_all(mids)
        else:
            self.when_stored(lambda: client.ack_all(mids))
