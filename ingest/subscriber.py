"""The MQTT subscriber: the only reader of device telemetry on the broker.

One paho client with a fixed id and a persistent session (QoS 1, clean_session off), so the broker
keeps what devices send while SafeTwin is away.  Its socket is driven by the event loop itself
(paho's external-loop interface: `loop_read` when the socket is readable, `loop_write` when paho has
something to send, `loop_misc` every second for keepalive), not by paho's network thread: with a
second thread reading, the interpreter lock changed hands in the middle of batches, and a batch
that raised an alarm took 15-30 ms instead of 2-3 (docs/scaling.md).  `on_message` only appends
(topic, payload, mid) to a buffer and wakes the consumer once per read, not once per message; a full
buffer stops reading the socket, so TCP pushes back on the broker.  The consumer takes everything
buffered as one batch, runs the pipeline and its listeners (history, rules) synchronously, and
acknowledges the batch's QoS 1 messages only once history holds them (written or spooled): a
SafeTwin killed at any moment has every unacknowledged reading sent again by the broker on its next
start.  Acknowledgement is therefore at least once;
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
import sys
import threading
import time
from array import array
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

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
    """What the socket's reader hands to the consumer: a buffer, and one wake-up per read.

    Both sides run on the event loop.  When the buffer holds `max_messages`, `pause` stops reading
    the socket; `take` calls `resume` once it has room again.
    """

    def __init__(
        self, wake: asyncio.Event, max_messages: int, pause: Callable[[], None], resume: Callable[[], None]
    ) -> None:
        self._wake = wake
        self._max = max_messages
        self._pause = pause
        self._resume = resume
        self._buf: list[Raw] = []
        self._paused = False

    def put(self, item: Raw) -> None:
        buf = self._buf
        buf.append(item)
        if len(buf) == 1:
            self._wake.set()
        if len(buf) >= self._max and not self._paused:
            self._paused = True
            self._pause()

    def take(self, most: int) -> list[Raw]:
        """Up to `most` buffered messages, oldest first."""
        if len(self._buf) <= most:
            out, self._buf = self._buf, []
        else:
            out, self._buf = self._buf[:most], self._buf[most:]
            self._wake.set()  # more is waiting: come back after letting other tasks run
        if self._paused and len(self._buf) < self._max:
            self._paused = False
            self._resume()
        return out


_PUBACK = 0x40


_READ_CHUNK = 256 * 1024  # bytes taken from the socket per system call
_READ_BURST = 2_000  # packets handled per readable event, before other callbacks get their turn


def _pubacks(mids: list[int]) -> bytes:
    """The PUBACK packets of `mids`, in order: 0x40, 2, then each id in two bytes, big-endian.

    Built with array slices rather than a struct.pack per id: every history write acknowledges
    thousands of ids at once (7,500 for half a second at 15,000 readings/s), 0.9 ms that way and
    0.2 ms this way.
    """
    ids = array("H", mids)
    if sys.byteorder == "little":
        ids.byteswap()
    raw = ids.tobytes()
    n = len(mids)
    out = bytearray(4 * n)
    out[0::4] = bytes([_PUBACK]) * n
    out[1::4] = b"\x02" * n
    out[2::4] = raw[0::2]
    out[3::4] = raw[1::2]
    return bytes(out)


class _BatchClient(paho.Client):
    """paho with the per-message costs of a high-rate subscriber taken out.

    - Reads are buffered: paho reads each packet with three or more `recv` calls (the command byte,
      each length byte, the rest).  Here one `recv` takes up to 256 KB, and paho's reads are served
      from that buffer.
    - `loop_read` handles every packet that has arrived (up to `_READ_BURST` per readable event),
      where paho's handles one per `select`.
    - Whole PUBLISH packets (QoS 0 and 1) are cut out of the buffer here (`_take_publishes`), as
      (topic, payload, mid), without paho's per-packet dict, `MQTTMessage` and logging: paho spent
      about 28 us a message on them, against 1.4 us here.  Every other
      packet, and one that has not wholly arrived, is left to paho.
    - Every message goes straight to `sink`: no per-topic callback matching (we register none).
    - `ack_all` queues the PUBACKs of a whole batch as one write, where paho's `ack` queues one
      packet per message.
    All lean on paho 2's internals (`_sock_recv`, `_packet_read`, `_in_packet`, `_handle_on_message`,
    `_packet_queue`, `_last_bytes_received`); pyproject pins paho < 3.
    """

    sink: Callable[[Raw], None]
    _rbuf: bytearray
    _rbuf_of: object = None  # the socket the buffered bytes came from
    _held: OSError | bytes | None = None  # what the socket gave `_fill` that paho's reading must see

    def _sock_recv(self, bufsize: int) -> bytes:
        if self._rbuf_of is not self._sock:  # a new connection: nothing buffered belongs to it
            self._rbuf, self._rbuf_of, self._held = bytearray(), self._sock, None
        if self._held is not None:  # what `_fill` met, given to paho's reading as the socket gave it
            held, self._held = self._held, None
            if isinstance(held, OSError):
                raise held
            return held
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
            if self._in_packet["command"] == 0 and self._rbuf_of is self._sock:  # at a packet boundary
                if self._rbuf:
                    handled += self._take_publishes()  # the whole PUBLISH packets, quickly
                if not self._rbuf:
                    # stop between bursts only with nothing buffered: select() cannot see the buffer
                    if handled >= _READ_BURST:
                        return MQTTErrorCode.MQTT_ERR_SUCCESS
                    try:
                        self._fill()
                    except BlockingIOError:
                        return MQTTErrorCode.MQTT_ERR_SUCCESS
                    if self._rbuf:
                        continue
                    # an error or the end of the stream is held: paho's reading below meets it
            elif handled >= _READ_BURST and not self._rbuf:
                return MQTTErrorCode.MQTT_ERR_SUCCESS
            rc = self._packet_read()
            handled += 1
            if rc == MQTTErrorCode.MQTT_ERR_AGAIN:
                return MQTTErrorCode.MQTT_ERR_SUCCESS
            if rc > 0:
                return self._loop_rc_handle(rc)
            if self._sock is None:
                return MQTTErrorCode.MQTT_ERR_NO_CONN

    def _fill(self) -> None:
        """Read the next chunk into the empty buffer, so its PUBLISH packets take the quick way too.

        Before, paho's own read of the next packet made the `recv` and read that first packet the slow
        way: at a few thousand messages a second most reads bring only a few packets, so most went
        through paho.  An error or the end of the stream is held for paho's reading, which meets it
        as if from the socket (and drops the connection as it does).  BlockingIOError: nothing there.
        """
        try:
            chunk = super()._sock_recv(_READ_CHUNK)
        except BlockingIOError:
            raise
        except OSError as err:
            self._held = err
            return
        if chunk:
            self._rbuf += chunk
        else:
            self._held = chunk  # the broker closed the connection

    def _take_publishes(self) -> int:
        """Hand every whole QoS 0/1 PUBLISH at the front of the buffer to `sink`; how many.

        MQTT 3.1.1 section 3.3: the fixed header's byte (type 3, flags DUP, QoS, RETAIN), the remaining
        length (1-4 bytes, 7 bits each), the topic (2-byte length, UTF-8), the packet id when QoS > 0,
        the payload.  Stops at anything else, which paho reads as before: another packet type, QoS 2,
        a packet cut off at the end of the buffer, or one whose lengths do not add up (paho then
        drops the connection as a protocol error).
        """
        data = bytes(self._rbuf)
        end_of_data = len(data)
        sink = self.sink
        pos = taken = 0
        while pos + 1 < end_of_data:
            command = data[pos]
            if command & 0xF0 != 0x30 or command & 0x04:  # not a PUBLISH, or QoS 2 (or the invalid 3)
                break
            i, length, shift = pos + 1, 0, 0
            while i < end_of_data and shift < 28:
                byte = data[i]
                i += 1
                length |= (byte & 0x7F) << shift
                shift += 7
                if byte < 0x80:
                    break
            else:
                break  # the length is cut off, or longer than 4 bytes
            end = i + length
            if end > end_of_data or length < 2:
                break
            topic_end = i + 2 + ((data[i] << 8) | data[i + 1])
            body = topic_end + 2 if command & 0x02 else topic_end  # QoS 1: a 2-byte packet id first
            if body > end:
                break
            mid = (data[topic_end] << 8) | data[topic_end + 1] if body > topic_end else 0
            sink((data[i + 2 : topic_end].decode("utf-8", "replace"), data[body:end], mid))
            pos = end
            taken += 1
        if pos:
            del self._rbuf[:pos]
            with self._msgtime_mutex:
                self._last_bytes_received = paho.time_func()
        return taken

    def _handle_on_message(self, message: paho.MQTTMessage) -> None:
        topic = message._topic.decode("utf-8", "replace")
        self.sink((topic, message.payload, message.mid if message.qos else 0))

    def ack_all(self, mids: list[int]) -> None:
        """PUBACK every mid, in order (MQTT 3.1.1 4.6), as one write; on the event loop only."""
        if self._sock is None:
            return  # the connection is gone: the broker sends them again on the next one
        self._packet_queue(_PUBACK, _pubacks(mids), 0, 0)  # a deque append and a write when it can


class _StoredAcks:
    """PUBACKs held until history has stored their batches, then written a whole stretch at a time.

    History calls back once per batch, from its own thread.  Each call used to post its own callback
    to the loop (a write to the loop's wake-up pipe), and each of those wrote its own PUBACKs to the
    socket: at 15,000 readings/s about 500 of each a second, and at every one of those system calls
    the interpreter lock could go to another thread and the loop wait to get it back.  Now a call
    notes how far history got, at most one callback waits on the loop, and it acknowledges every
    batch stored by then in one write, in the order the messages came (MQTT 3.1.1 4.6).
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, client: _BatchClient) -> None:
        self._loop = loop
        self._client = client
        self._held: deque[tuple[int, list[int]]] = deque()  # (ticket, mids), oldest first
        self._next = 0
        self._stored = -1  # the last ticket history has stored
        self._posted = False  # a `_send` waits on the loop
        self._lock = threading.Lock()

    def hold(self, mids: list[int]) -> Callable[[], None]:
        """Keep `mids` (on the loop) until the returned callable says their batch is stored (any thread)."""
        ticket = self._next
        self._next += 1
        self._held.append((ticket, mids))
        return partial(self._stored_upto, ticket)

    def _stored_upto(self, ticket: int) -> None:
        with self._lock:
            self._stored = max(self._stored, ticket)
            if self._posted:
                return
            self._posted = True
        self._loop.call_soon_threadsafe(self._send)

    def _send(self) -> None:
        with self._lock:
            upto, self._posted = self._stored, False
        held, mids = self._held, []
        while held and held[0][0] <= upto:
            mids.extend(held.popleft()[1])
        if mids:
            self._client.ack_all(mids)


def _on_this_loop(fn: Callable[..., object], *args: Any) -> Callable[[], None]:
    """A callable for any thread that runs `fn(*args)` on the running event loop."""
    loop = asyncio.get_running_loop()

    def call() -> None:
        loop.call_soon_threadsafe(fn, *args)

    return call


class _LoopIO:
    """Drives a paho client's socket from the event loop (paho's external-loop callbacks).

    `connect` runs paho's blocking connect in a worker thread, so its socket callbacks may come
    from there: they are handed to the loop.  Everything else happens on the loop's thread.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, client: _BatchClient) -> None:
        self._loop = loop
        self._thread = threading.get_ident()
        self._client = client
        self._fd = -1  # the open socket's descriptor, -1 while there is none
        self._paused = False  # the consumer is behind: the socket is not read
        self._misc: asyncio.Task[None] | None = None
        self.lost = asyncio.Event()  # set when the connection ends, for whatever reason
        client.on_socket_open = lambda _c, _u, sock: self._on_loop(self._opened, sock)
        client.on_socket_close = lambda _c, _u, sock: self._on_loop(self._closed, sock)
        client.on_socket_register_write = lambda _c, _u, sock: self._on_loop(self._want_write, sock)
        client.on_socket_unregister_write = lambda _c, _u, sock: self._on_loop(self._written, sock)

    def _on_loop(self, fn: Callable[[Any], None], sock: Any) -> None:
        if threading.get_ident() == self._thread:
            fn(sock)
        else:
            self._loop.call_soon_threadsafe(fn, sock)

    def _current(self, sock: Any) -> bool:
        """Whether `sock` is still the client's socket (a handed-over callback may come too late)."""
        return sock is not None and sock.fileno() >= 0 and sock is self._client.socket()

    def _opened(self, sock: Any) -> None:
        if not self._current(sock):
            return
        self._fd = sock.fileno()
        if not self._paused:
            self._loop.add_reader(self._fd, self._read)
        self._misc = self._loop.create_task(self._keepalive())

    def _closed(self, sock: Any) -> None:
        if self._fd >= 0:
            self._loop.remove_reader(self._fd)
            self._loop.remove_writer(self._fd)
            self._fd = -1
        if self._misc is not None:
            self._misc.cancel()
            self._misc = None
        self.lost.set()

    def _want_write(self, sock: Any) -> None:
        if self._current(sock) and self._fd >= 0:
            self._loop.add_writer(self._fd, self._write)

    def _written(self, sock: Any) -> None:
        if self._fd >= 0 and sock.fileno() == self._fd:
            self._loop.remove_writer(self._fd)

    def _read(self) -> None:
        client = self._client
        try:
            client.loop_read()
            sock = client.socket()
            # TLS may hold decrypted bytes that select() cannot see
            while sock is not None and getattr(sock, "pending", lambda: 0)() > 0:
                client.loop_read()
                sock = client.socket()
        except Exception:  # a broken socket paho did not catch: drop the connection, reconnect
            log.warning("reading from the broker failed; reconnecting", exc_info=True)
            self.drop()

    def _write(self) -> None:
        try:
            self._client.loop_write()
        except Exception:
            log.warning("writing to the broker failed; reconnecting", exc_info=True)
            self.drop()

    async def _keepalive(self) -> None:
        while self._client.loop_misc() == MQTTErrorCode.MQTT_ERR_SUCCESS:
            await asyncio.sleep(1)

    def drop(self) -> None:
        """End the connection now (paho calls `on_disconnect` and `on_socket_close`)."""
        if self._client.socket() is not None:
            self._client._loop_rc_handle(MQTTErrorCode.MQTT_ERR_CONN_LOST)

    def pause(self) -> None:
        self._paused = True
        if self._fd >= 0:
            self._loop.remove_reader(self._fd)

    def resume(self) -> None:
        self._paused = False
        if self._fd >= 0:
            self._loop.add_reader(self._fd, self._read)

    async def connect(self) -> None:
        """One connection attempt; OSError if the broker cannot be reached.

        Cancelled meanwhile (the subscriber stops), it still waits for paho's connect to end in its
        thread (at most paho's connect timeout): a socket opened after the subscriber had closed
        would keep its reader and keep-alive task on the loop, and nobody would close it.
        """
        self.lost.clear()
        attempt = self._loop.run_in_executor(None, self._client.reconnect)
        try:
            await asyncio.shield(attempt)
        except asyncio.CancelledError:
            await asyncio.gather(attempt, return_exceptions=True)  # its socket is closed with the rest
            raise


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
        self._acks: _StoredAcks | None = None

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
        client = self._make_client()
        self._client = client
        io = _LoopIO(loop, client)
        self._acks = _StoredAcks(loop, client)
        inbox = _Inbox(wake, self.batch_max * 4, io.pause, io.resume)
        client.sink = inbox.put
        connection = asyncio.create_task(self._stay_connected(client, io), name="ingest-connection")
        try:
            while True:
                await wake.wait()
                wake.clear()
                batch = inbox.take(self.batch_max)
                if batch:
                    self._handle(client, batch)
                await asyncio.sleep(0)  # let the command publisher and the API run between batches
        finally:
            connection.cancel()
            await asyncio.gather(connection, return_exceptions=True)
            await self._close(client, io)

    async def _stay_connected(self, client: _BatchClient, io: _LoopIO) -> None:
        """Connect, and after every loss connect again, waiting longer each time (up to the maximum)."""
        s = self.settings
        host, port, _ = s.endpoint()
        client.connect_async(host, port, keepalive=s.keepalive_s)
        delay = s.reconnect_min_s
        while True:
            connects = self.status.connects
            try:
                await io.connect()
            except (OSError, ValueError) as err:  # refused, unreachable, unresolvable, TLS failed
                self._lost(f"connection failed: {err}")
            else:
                await io.lost.wait()
            if self.status.connects > connects:  # it was up: the next loss waits the least again
                delay = s.reconnect_min_s
            await asyncio.sleep(delay)
            delay = min(delay * 2, s.reconnect_max_s)

    async def _close(self, client: _BatchClient, io: _LoopIO) -> None:
        """Let history store what was processed, so its acknowledgements go out, then disconnect."""
        if self.when_stored is not None:
            stored = asyncio.Event()
            self.when_stored(_on_this_loop(stored.set))
            try:
                await asyncio.wait_for(stored.wait(), 10)
            except TimeoutError:
                log.warning("history did not store the last batches in 10 s; the broker sends them again")
        if client.socket() is not None:
            client.disconnect()  # queued after the acknowledgements; paho closes once it is written
            try:
                await asyncio.wait_for(io.lost.wait(), 2)
            except TimeoutError:
                io.drop()
        self.status.connected = False

    # --- paho's callbacks (on the event loop) -----------------------------------------------------

    def _make_client(self) -> _BatchClient:
        s = self.settings
        client = _BatchClient(
            CallbackAPIVersion.VERSION2,
            client_id=s.client_id,
            clean_session=False,
            protocol=paho.MQTTv311,
        )
        client.manual_ack_set(True)
        client.max_queued_messages_set(0)
        if s.username is not None:
            client.username_pw_set(s.username, s.password.get_secret_value() if s.password else None)
        if s.endpoint()[2]:
            client.tls_set_context(ssl.create_default_context(cafile=str(s.ca_file) if s.ca_file else None))

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
            self.ready.set()

        def on_disconnect(_c: paho.Client, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
            if self.status.connected and reason.is_failure:  # a refused CONNACK keeps its own reason
                self._lost(str(reason))
            self.status.connected = False

        client.on_connect = on_connect
        client.on_subscribe = on_subscribe
        client.on_disconnect = on_disconnect
        return client

    def _lost(self, why: str) -> None:
        was = self.status.connected
        self.status.connected = False
        self.status.last_error = why
        if self.status.down_since_ms is None:
            self.status.down_since_ms = time.time_ns() // 1_000_000
        if was or self.status.connects == 0:
            log.warning("broker %s unavailable (%s); reconnecting with backoff", self._where(), why)

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
        if self.when_stored is None or self._acks is None:
            client.ack_all(mids)
        else:
            # history calls back on its own thread: the acknowledgements are written from the loop
            self.when_stored(self._acks.hold(mids))
