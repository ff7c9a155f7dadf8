"""A minimal MQTT 3.1.1 publisher over a plain socket, for load generation only.

paho in Python tops out at a few thousand QoS 1 messages/s per process, too slow to load SafeTwin
without becoming the bottleneck.  This writes CONNECT and PUBLISH packets straight to the socket and
drains what the broker answers (CONNACK, PUBACKs) in a thread; it does not retry or keep a session.
"""

from __future__ import annotations

import socket
import struct
import threading
import time


def _remaining_length(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n % 128, n // 128
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _str(s: str) -> bytes:
    b = s.encode()
    return struct.pack("!H", len(b)) + b


_DRAIN_PAUSE_S = 0.002
_QOS0, _QOS1 = b"\x30", b"\x32"
_MID = [struct.pack("!H", mid) for mid in range(65536)]
_LENGTHS = [_remaining_length(n) for n in range(16384)]  # one and two byte remaining lengths


class RawPublisher:
    """Connect with a clean session and publish pre-built packets as fast as the socket takes them."""

    def __init__(self, host: str, port: int, client_id: str) -> None:
        self.sock = socket.create_connection((host, port))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        body = _str("MQTT") + bytes([4, 0x02]) + struct.pack("!H", 60) + _str(client_id)
        self.sock.sendall(b"\x10" + _remaining_length(len(body)) + body)
        self._mid = 0
        self._topics: dict[str, bytes] = {}  # topic -> its encoded field (a load repeats its topics)
        self._closed = False
        self.received = 0
        self._reader = threading.Thread(target=self._drain, daemon=True)
        self._reader.start()

    def _drain(self) -> None:
        while not self._closed:
            try:
                chunk = self.sock.recv(65536)
            except OSError:
                return
            if not chunk:
                return
            self.received += len(chunk)
            # PUBACKs a few milliseconds at a time: woken for each one, this thread took 12 % of a
            # core at 15,000 messages/s, on the same two cores as the broker and SafeTwin
            time.sleep(_DRAIN_PAUSE_S)

    def packet(self, topic: str, payload: bytes, qos: int = 1) -> bytes:
        """One PUBLISH packet (QoS 0 or 1)."""
        var = self._topics.get(topic)
        if var is None:
            var = self._topics[topic] = _str(topic)
        if qos:
            self._mid = self._mid % 65535 + 1
            var += _MID[self._mid]
        n = len(var) + len(payload)
        length = _LENGTHS[n] if n < len(_LENGTHS) else _remaining_length(n)
        return (_QOS1 if qos else _QOS0) + length + var + payload

    def send(self, packets: bytes) -> None:
        self.sock.sendall(packets)

    def wait_acked(self, qos1_messages: int, timeout: float = 30.0) -> bool:
        """Wait until the broker has answered CONNACK and `qos1_messages` PUBACKs (4 bytes each).

        Close only after this: closing a socket with unread answers resets it, and what the kernel
        had not sent yet is lost.
        """
        deadline = time.monotonic() + timeout
        while self.received < 4 + 4 * qos1_messages:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.01)
        return True

    def close(self) -> None:
        try:
            self.sock.sendall(b"\xe0\x00")  # DISCONNECT
        finally:
            self._closed = True
            self.sock.close()
