"""The ingest client's buffered socket reads: paho sees the same bytes, in the same pieces it asks for."""

from __future__ import annotations

import asyncio
import random
import socket

import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode

from ingest import subscriber
from ingest.subscriber import Raw, _BatchClient


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
    client.sink = lambda raw: got.append(raw[1])
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


def _publish(topic: bytes, payload: bytes, mid: int = 0, flags: int = 0) -> bytes:
    """A PUBLISH packet: QoS 1 when `mid` is set; `flags` adds DUP (0x08) or RETAIN (0x01)."""
    body = len(topic).to_bytes(2, "big") + topic + (mid.to_bytes(2, "big") if mid else b"") + payload
    length, rest = b"", len(body)
    while True:
        byte, rest = rest & 0x7F, rest >> 7
        length += bytes([byte | (0x80 if rest else 0)])
        if not rest:
            break
    return bytes([0x30 | (0x02 if mid else 0) | flags]) + length + body


def _read_all(stream: bytes, pieces: list[int], fast: bool, monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """What the sink gets when `stream` arrives cut at `pieces`, with or without the quick path."""
    if not fast:
        monkeypatch.setattr(_BatchClient, "_take_publishes", lambda self: 0)
    a, b = socket.socketpair()
    a.setblocking(False)
    client = _client_on(a)
    got: list[object] = []
    client.sink = got.append
    start = 0
    for cut in [*pieces, len(stream)]:
        b.sendall(stream[start:cut])
        start = cut
        client.loop_read()
    monkeypatch.undo()
    a.close()
    b.close()
    return got


def test_publishes_cut_from_the_buffer_are_what_paho_itself_reads(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = random.Random(8)
    packets, expected = [], []
    for n in range(300):
        topic = f"safetwin/v1/telemetry/dev-{n}".encode()
        payload = bytes(rng.randrange(256) for _ in range(rng.choice([0, 5, 126, 127, 128, 300, 20_000])))
        mid = rng.choice([0, n + 1])
        packets.append(_publish(topic, payload, mid, rng.choice([0, 0x01, 0x08])))
        expected.append((topic.decode(), payload, mid))
        if n % 50 == 7:
            packets.append(b"\xd0\x00")  # a PINGRESP in between: paho's to read
    packets.append(_publish("caf\xe9".encode("latin-1"), b"x"))  # a topic that is not UTF-8
    expected.append(("caf\ufffd", b"x", 0))
    stream = b"".join(packets)
    pieces = sorted(rng.sample(range(1, len(stream)), 40))  # packets and lengths cut anywhere
    fast = _read_all(stream, pieces, True, monkeypatch)
    assert fast == expected
    assert _read_all(stream, pieces, False, monkeypatch) == expected, "paho's own reading agrees"


def _reader() -> tuple[socket.socket, socket.socket, _BatchClient, list[Raw]]:
    """A client reading one end of a socket pair (the broker writes the other), and what it hands on."""
    a, b = socket.socketpair()
    a.setblocking(False)
    client = _client_on(a)
    got: list[Raw] = []
    client.sink = got.append
    return a, b, client, got


def test_a_publish_whose_lengths_do_not_add_up_is_left_to_paho() -> None:
    a, b, client, got = _reader()
    # remaining length 3, but the topic claims 9 bytes: the quick path stops, paho refuses the packet
    # (a QoS 1 one, whose packet id would lie past the end of everything that arrived)
    b.sendall(_publish(b"t", b"ok") + b"\x32\x03\x00\x09t")
    assert client.loop_read() != MQTTErrorCode.MQTT_ERR_SUCCESS
    assert got == [("t", b"ok", 0)], "what came before the broken packet was handed on"
    a.close()
    b.close()


def test_every_publish_of_a_later_read_takes_the_quick_way(monkeypatch: pytest.MonkeyPatch) -> None:
    a, b, client, got = _reader()
    by_paho: list[object] = []
    slow = _BatchClient._handle_on_message

    def counted(self: _BatchClient, message: object) -> None:
        by_paho.append(message)
        slow(self, message)  # type: ignore[arg-type]

    monkeypatch.setattr(_BatchClient, "_handle_on_message", counted)
    b.sendall(_publish(b"t", b"first"))
    client.loop_read()  # a new connection's first read is paho's own
    by_paho.clear()
    for rnd in range(3):  # each read empties the buffer; the next recv is made for the quick path
        b.sendall(b"".join(_publish(b"t", b"%d-%d" % (rnd, i), i + 1) for i in range(4)))
        assert client.loop_read() == MQTTErrorCode.MQTT_ERR_SUCCESS
    assert [p for _, p, _ in got[1:]] == [b"%d-%d" % (r, i) for r in range(3) for i in range(4)]
    assert by_paho == [], "no PUBLISH went through paho's per-packet reading"
    a.close()
    b.close()


def test_the_end_of_the_stream_met_while_filling_the_buffer_drops_the_connection() -> None:
    a, b, client, got = _reader()
    b.sendall(_publish(b"t", b"1"))
    client.loop_read()
    b.sendall(_publish(b"t", b"2"))
    b.close()
    assert client.loop_read() == MQTTErrorCode.MQTT_ERR_CONN_LOST
    assert got == [("t", b"1", 0), ("t", b"2", 0)], "what arrived before the end was handed on"
    assert client._sock is None
    a.close()


def test_an_error_met_while_filling_the_buffer_reaches_paho_as_from_the_socket(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    a, b = socket.socketpair()
    a.setblocking(False)
    client = _client_on(a)
    client.sink = lambda raw: None
    b.sendall(_publish(b"t", b"1"))
    client.loop_read()
    calls = 0

    def reset(self: _BatchClient, bufsize: int) -> bytes:
        nonlocal calls
        calls += 1
        raise ConnectionResetError("connection reset by peer")

    monkeypatch.setattr(paho.Client, "_sock_recv", reset)
    assert client.loop_read() == MQTTErrorCode.MQTT_ERR_CONN_LOST
    assert calls == 1, "the error was read once and handed to paho, not met again"
    a.close()
    b.close()
