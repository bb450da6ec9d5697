"""A real SMTP server on loopback (aiosmtpd) that records what it accepts.

`RecordingHandler` keeps every accepted message with the connection it came over, so a test
can count connections. `rcpt_replies` makes it refuse chosen recipients ("550 ...", "451 ...");
`mail_replies` and `data_replies` are queues of answers for the next MAIL FROM / end of DATA.
`smtp_server(...)` runs it on a free port, plain, STARTTLS or implicit TLS, with optional AUTH,
and always stops it. `self_signed_cert(dir)` makes a certificate for 127.0.0.1 with openssl.
"""

from __future__ import annotations

import email
import email.policy
import ssl
import subprocess
import threading
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    data: bytes
    connection: Any  # the aiosmtpd SMTP protocol instance: one per TCP connection
    authenticated_as: str | None

    def message(self) -> EmailMessage:
        return email.message_from_bytes(self.data, policy=email.policy.default)  # type: ignore[return-value]


class RecordingHandler:
    def __init__(self) -> None:
        self.received: list[Received] = []
        self.rcpt_replies: dict[str, str] = {}
        self.mail_replies: deque[str] = deque()
        self.data_replies: deque[str] = deque()
        self._lock = threading.Lock()

    @property
    def connections(self) -> int:
        # Counting protocol objects that delivered mail; held in `received`, so ids stay unique.
        return len({id(r.connection) for r in self.received})

    async def handle_MAIL(self, server, session, envelope, address, mail_options):
        if self.mail_replies:
            return self.mail_replies.popleft()
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        reply = self.rcpt_replies.get(address)
        if reply:
            return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        if self.data_replies:
            return self.data_replies.popleft()
        login = session.auth_data  # what the authenticator put in AuthResult.auth_data
        with self._lock:
            self.received.append(
                Received(envelope.mail_from, list(envelope.rcpt_tos), envelope.original_content, server, login)
            )
        return "250 2.0.0 Accepted"


class _FreePortController(Controller):
    """aiosmtpd's Controller wants a fixed port; bind port 0 and read back the one we got."""

    def _create_server(self):
        async def bind():
            server = await self.loop.create_server(
                self._factory_invoker, host=self.hostname, port=self.port, ssl=self.ssl_context
            )
            self.port = server.sockets[0].getsockname()[1]
            return server

        return bind()


@dataclass
class SmtpServer:
    host: str
    port: int
    handler: RecordingHandler
    controller: Controller


def _authenticator(users: dict[str, str]):
    def check(server, session, envelope, mechanism, auth_data):
        login = auth_data.login.decode() if isinstance(auth_data.login, bytes) else auth_data.login
        password = auth_data.password.decode() if isinstance(auth_data.password, bytes) else auth_data.password
        ok = users.get(login) == password
        return AuthResult(success=ok, handled=False, auth_data=login if ok else None)

    return check


@contextmanager
def smtp_server(
    *,
    handler: RecordingHandler | None = None,
    cert: tuple[Path, Path] | None = None,
    mode: str = "plain",
    users: dict[str, str] | None = None,
    port: int = 0,
) -> Iterator[SmtpServer]:
    """mode: "plain", "starttls" (required) or "tls" (implicit). cert: (certfile, keyfile)."""
    handler = handler or RecordingHandler()
    kwargs: dict[str, Any] = {"hostname": "127.0.0.1", "port": port, "server_hostname": "localhost"}
    if mode != "plain":
        assert cert is not None, "TLS needs a certificate"
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(str(cert[0]), str(cert[1]))
        if mode == "starttls":
            kwargs.update(tls_context=context, require_starttls=True)
        else:
            kwargs.update(ssl_context=context)
    if users:
        kwargs.update(authenticator=_authenticator(users), auth_required=True)
    controller = _FreePortController(handler, **kwargs)
    controller.start()
    try:
        yield SmtpServer("127.0.0.1", controller.port, handler, controller)
    finally:
        controller.stop()


def self_signed_cert(directory: Path) -> tuple[Path, Path]:
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            str(key),
            "-out",
            str(cert),
            "-days",
            "2",
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=DNS:localhost,IP:127.0.0.1",
        ],
        check=True,
        capture_output=True,
    )
    return cert, key
