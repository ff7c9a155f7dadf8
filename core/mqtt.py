"""One way to open an MQTT client on the configured broker, for every package that talks MQTT."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
from typing import Any

import aiomqtt
import paho.mqtt.client as paho

from core.settings import MqttSettings


def make_client(
    settings: MqttSettings, *, client_id: str | None = None, clean: bool = False, **extra: Any
) -> aiomqtt.Client:
    """An aiomqtt client for the configured broker (embedded, mqtt:// or mqtts://)."""
    host, port, tls = settings.endpoint()
    tls_context = None
    if tls:
        tls_context = ssl.create_default_context(cafile=str(settings.ca_file) if settings.ca_file else None)
    client = aiomqtt.Client(
        host,
        port,
        username=settings.username,
        password=settings.password.get_secret_value() if settings.password else None,
        identifier=client_id or settings.client_id,
        clean_session=clean,
        protocol=aiomqtt.ProtocolVersion.V311,
        keepalive=settings.keepalive_s,
        tls_context=tls_context,
        **extra,
    )
    # aiomqtt has no socket option of its own; its paho client's socket-open hook (which aiomqtt uses
    # to watch the socket) is wrapped to switch Nagle off first.
    paho_client = paho_of(client)
    watch = paho_client.on_socket_open

    def opened(c: Any, userdata: Any, sock: Any) -> None:
        no_delay(sock)
        if watch is not None:
            watch(c, userdata, sock)

    paho_client.on_socket_open = opened
    _register_writes_at_once(client, paho_client)
    return client


def _register_writes_at_once(client: aiomqtt.Client, inner: paho.Client) -> None:
    """Watch the socket for writability at once when paho asks from the event loop itself.

    aiomqtt always defers `add_writer` through `call_soon_threadsafe`, since paho may ask from the
    thread that connects.  A publish that is then written at once (`paho_of(...).loop_write()`, as
    the command publisher does) has paho drop the watch before the deferred `add_writer` runs, which
    then watches a socket with nothing to write for good (the loop spins), or a closed one.
    """
    deferred = inner.on_socket_register_write

    def register(c: paho.Client, userdata: Any, sock: Any) -> None:
        loop: asyncio.AbstractEventLoop = client._loop
        try:
            on_loop = asyncio.get_running_loop() is loop
        except RuntimeError:
            on_loop = False
        if not on_loop:
            if deferred is not None:
                deferred(c, userdata, sock)
            return

        def writable() -> None:
            try:
                c.loop_write()
            except Exception as exc:  # a broken pipe: the connection is gone, as aiomqtt handles it
                if not client._disconnected.done():
                    client._disconnected.set_exception(exc)

        loop.add_writer(sock.fileno(), writable)

    inner.on_socket_register_write = register


def paho_of(client: aiomqtt.Client) -> paho.Client:
    """The paho client under an aiomqtt client, for what aiomqtt does not offer: a publish that does
    not wait for its PUBACK, and writing to the socket at once."""
    inner: paho.Client = client._client
    return inner


def no_delay(sock: Any) -> None:
    """Switch Nagle's algorithm off on an MQTT connection.

    MQTT packets are small and each one matters at once; with Nagle a packet sent while an earlier one
    is unacknowledged waits for the peer's delayed ACK, about 40 ms on Linux.  paho leaves it on.
    """
    with contextlib.suppress(OSError, AttributeError):  # not a TCP socket (Unix, websocket wrapper)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


async def until_disconnected(client: aiomqtt.Client) -> None:
    """Raise MqttError as soon as the connection drops, for a client that only publishes.

    A publish-only client otherwise learns of a lost connection only at its next publish, and aiomqtt's
    unread disconnect error is reported as 'Future exception was never retrieved'.
    """
    async for _ in client.messages:
        pass


def reraise_if_cancelled() -> None:
    """In a reconnect loop's `except MqttError`: a disconnect caused by our own cancellation ends the loop.

    aiomqtt can report a connection torn down by a task's cancellation as MqttError; retrying then
    would keep a stopping task alive forever.
    """
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError


async def publish(client: aiomqtt.Client, topic: str, payload: bytes | str, qos: int = 1) -> None:
    """aiomqtt's publish, made safe to cancel.

    Its QoS 1 wait goes through asyncio.wait_for, which on Python 3.11 can swallow a cancellation that
    arrives as the broker's answer does; the task would then go on as if never cancelled and a
    TaskGroup would wait for it forever.  The task still knows it was asked to stop, so ask it.
    """
    await client.publish(topic, payload, qos=qos)
    reraise_if_cancelled()
