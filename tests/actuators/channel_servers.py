"""Real servers for channel tests: an HTTP server that records requests, an SMTP server that keeps mail."""

from __future__ import annotations

import email
import email.policy
import ssl
import subprocess
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Literal

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from actuators.response import Notification
from core.contract import now_ms
from tests.fixtures.mosquitto import free_port
from twin.model import Contact


@dataclass
class Seen:
    """One request the HTTP server received."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class HttpRecorder:
    """Answers each request with the next status of `statuses` (the last repeats) and records it."""

    statuses: list[int] = field(default_factory=lambda: [200])
    answer: str = '{"ok": true}'
    fail_phones: dict[str, int] = field(default_factory=dict)  # phone -> times to answer 500 first
    requests: list[Seen] = field(default_factory=list)
    url: str = ""

    def status_for(self, seen: Seen) -> int:
        for phone, left in self.fail_phones.items():
            if left > 0 and phone.encode() in seen.body + seen.path.encode():
                self.fail_phones[phone] = left - 1
                return 500
        i = min(len(self.requests) - 1, len(self.statuses) - 1)
        return self.statuses[i]


@contextmanager
def http_recorder(statuses: list[int] | None = None, answer: str = '{"ok": true}') -> Iterator[HttpRecorder]:
    """A real HTTP server on a free localhost port, in a thread."""
    rec = HttpRecorder(statuses=statuses or [200], answer=answer)
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def _handle(self) -> None:
            size = int(self.headers.get("Content-Length") or 0)
            seen = Seen(self.command, self.path, dict(self.headers.items()), self.rfile.read(size))
            with lock:
                rec.requests.append(seen)
                status = rec.status_for(seen)
            body = rec.answer.encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = do_PUT = _handle

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    rec.url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield rec
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


class _Mailbox:
    def __init__(self) -> None:
        self.mails: list[tuple[list[str], EmailMessage]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        msg = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(msg, EmailMessage)
        self.mails.append((list(envelope.rcpt_tos), msg))
        return "250 OK"


def self_signed(tmp: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and its key, made by the openssl command."""
    cert, key = tmp / "cert.pem", tmp / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    return cert, key


def _accept(user: str, password: str) -> Callable[..., AuthResult]:
    def check(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
        ok = isinstance(data, LoginPassword) and (data.login, data.password) == (
            user.encode(),
            password.encode(),
        )
        return AuthResult(success=ok, handled=False)  # handled=False: the server answers 535 itself

    return check


@contextmanager
def smtp_server(
    tls: Literal["none", "starttls", "ssl"] = "none",
    cert: tuple[Path, Path] | None = None,
    login: tuple[str, str] | None = None,
) -> Iterator[tuple[int, list[tuple[list[str], EmailMessage]]]]:
    """A real SMTP server (aiosmtpd) on a free port; yields (port, received mails)."""
    box = _Mailbox()
    context = None
    if tls != "none":
        assert cert is not None
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(*cert)
    kwargs: dict[str, Any] = {}
    if tls == "starttls":
        kwargs.update(tls_context=context, require_starttls=True)
    elif tls == "ssl":  # aiosmtpd counts only STARTTLS as TLS for AUTH; this socket is TLS from the start
        kwargs.update(ssl_context=context, auth_require_tls=False)
    if login is not None:
        kwargs.update(authenticator=_accept(*login), auth_required=True)
    controller = Controller(box, hostname="127.0.0.1", port=free_port(), **kwargs)
    controller.start()
    try:
        yield controller.port, box.mails
    finally:
        controller.stop()


def note(channels: list[str], text: str = "化粪池硫化氢超标，请立即撤离并通风。H2S 15 ppm") -> Notification:
    """A notification for two people: one with a phone and e-mail, one with a phone only."""
    return Notification(
        alarm_id="alm-42",
        ts=now_ms(),
        channels=channels,
        recipients=[
            Contact(name="张工", role="值班", phone="13800000001", email="zhang@example.org"),
            Contact(name="李姐", phone="13800000002"),
        ],
        text=text,
        delivered=False,
        detail="queued for delivery",
    )
