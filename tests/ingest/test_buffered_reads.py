"""The ingest client's buffered socket reads: paho sees the same bytes, in the same pieces it asks for."""

from __future__ import annotations

import asyncio
import socket

import pytest
from paho.mqtt.enums import CallbackAPIVersion

from ingest import subscriber
from ingest.subscriber import _BatchClient


def _client_on(sock: socket.socket) -> _BatchClient:
    client = _BatchClient(CallbackAPIVersion.VERSION2, client_id="t")
    client._sock = sock
    return client


def test_small_reads_are_served_from_one_recv_and_a_new_socket_starts_empty() -> None:
    a, b = socket.socketpair()
    a.setblocking(False)
    client = _client_on(a)
    b.sendall(b"\x30\x05hello\x40")
    assert client._sock_recv(1) == b"\x30"
    b.sendall(b"LATER")  # arrives after the first recv: stays in the socket until the buffer is used up
    assert client._sock_recv(1) == b"\x05"
    assert client._sock_recv(10) == b"hello\x40", "a read returns what is buffered, never more"
    assert client._sock_recv(3) == b"LAT"
    c, d = socket.socketpair()
    c.setblocking(False)
    client._sock = c  # a reconnect: what the old connection left buffered is dropped
    d.sendall(b"new")
    assert client._sock_recv(10) == b"new"
    with pytest.raises(BlockingIOError):
        client._sock_recv(1)  # nothing buffered, nothing on the socket
    d.close()
    assert client._sock_recv(1) == b"", "the peer closed: paho sees the end of the stream"
    for s in (a, b, c):
        s.close()


def test_loop_read_handles_every_buffered_packet_before_it_returns(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(subscriber, "_READ_BURST", 2)
    a, b = socket.socketpair()
    a.setblocking(False)
    client = _client_on(a)
    got: list[bytes | bytearray] = []
    client.sink = lambda msg: got.append(msg.payload)
    publish = b"".join(b"\x30\x06\x00\x01t" + bytes([48 + i]) + b"xx" for i in range(5))  # QoS 0, topic "t"
    b.sendall(publish)
    client.loop_read()
    # the burst limit is 2, but select() cannot see bytes already buffered: all five are handled
    assert got == [bytes([48 + i]) + b"xx" for i in range(5)]
    a.close()
    b.close()


def test_a_full_inbox_stops_reading_the_socket_until_the_consumer_has_room() -> None:
    calls: list[str] = []
    wake = asyncio.Event()
    inbox = subscriber._Inbox(wake, 4, lambda: calls.append("pause"), lambda: calls.append("resume"))
    inbox.put(("t", b"1", 1))
    assert wake.is_set(), "the first message wakes the consumer"
    for i in range(2, 5):
        inbox.put(("t", b"%d" % i, i))
    assert calls == ["pause"], "four messages held: the socket is no longer read"
    wake.clear()
    assert [mid for _, _, mid in inbox.take(3)] == [1, 2, 3]
    assert calls == ["pause", "resume"] and wake.is_set(), "room again, and one more is waiting"
    assert [mid for _, _, mid in inbox.take(3)] == [4]
    assert calls == ["pause", "resume"]
