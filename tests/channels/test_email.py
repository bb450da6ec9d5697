"""The SMTP transport against a real SMTP server on loopback."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

import pytest

from dunning.channels.contract import Envelope, TransportError
from dunning.channels.email import SmtpTransport
from dunning.channels.render import render_email, sample_context
from dunning.config import Settings
from tests.fakes.smtp import RecordingHandler, self_signed_cert, smtp_server

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend():
    return "asyncio"


@pytest.fixture(scope="module")
def cert(tmp_path_factory) -> tuple[Path, Path]:
    return self_signed_cert(tmp_path_factory.mktemp("tls"))


def make_settings(tmp_path: Path, port: int, **overrides) -> Settings:
    values = dict(
        _env_file=None,
        var_dir=tmp_path,
        smtp_host="127.0.0.1",
        smtp_port=port,
        smtp_security="none",
        smtp_from_address="collections@example.com",
        smtp_from_name="Example Trading Collections",
        smtp_reply_domain="replies.example.com",
        smtp_timeout_seconds=5,
    )
    values.update(overrides)
    return Settings(**values)


def envelope(message_id: int = 1, recipient: str = "accounts@customer.example", **kwargs) -> Envelope:
    mail = render_email("reminder", sample_context("en"))
    values = dict(
        message_id=message_id,
        channel="email",
        recipient=recipient,
        subject=mail.subject,
        text=mail.text,
        html=mail.html,
        reply_to="c123-m1",
        metadata={
            "unsubscribe_url": "https://pay.example.com/unsubscribe/tok123",
            "recipient_name": "Acme Widgets Ltd",
        },
    )
    values.update(kwargs)
    return Envelope(**values)


async def test_consolidated_reminder_arrives_with_both_parts_and_headers(tmp_path):
    with smtp_server() as server:
        transport = SmtpTransport(make_settings(tmp_path, server.port))
        try:
            receipt = await transport.send(envelope(message_id=42))
        finally:
            await transport.close()

    [got] = server.handler.received
    assert got.mail_from == "collections@example.com"
    assert got.rcpt_tos == ["accounts@customer.example"]
    msg = got.message()
    assert msg.get_content_type() == "multipart/alternative"
    text = msg.get_body(("plain",)).get_content()
    html = msg.get_body(("html",)).get_content()
    for number in ("INV-1001", "INV-1017", "INV-1042"):
        assert number in text and number in html
    assert "£1,749.50" in text

    assert msg["Message-ID"] == receipt.provider_id
    assert receipt.provider_id.startswith("<") and receipt.provider_id.endswith("@replies.example.com>")
    assert msg["Reply-To"] == "collections+c123-m1@replies.example.com"
    assert msg["To"] == "Acme Widgets Ltd <accounts@customer.example>"
    assert msg["From"] == "Example Trading Collections <collections@example.com>"
    # Long enough to be folded on the wire; compare unfolded, as a mail client reads it.
    assert " ".join(msg["List-Unsubscribe"].split()) == (
        "<mailto:collections+c123-m1@replies.example.com?subject=unsubscribe>, "
        "<https://pay.example.com/unsubscribe/tok123>"
    )
    assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert msg["Subject"] == "Friendly reminder: 3 invoices are overdue (£1,749.50)"


async def test_a_batch_goes_over_one_connection(tmp_path):
    with smtp_server() as server:
        transport = SmtpTransport(make_settings(tmp_path, server.port))
        try:
            receipts = [
                await transport.send(envelope(message_id=i, recipient=f"c{i}@customer.example")) for i in range(1, 6)
            ]
        finally:
            await transport.close()
    assert len(server.handler.received) == 5
    assert server.handler.connections == 1
    assert transport.connections_opened == 1
    assert len({r.provider_id for r in receipts}) == 5


async def test_a_connection_the_server_dropped_is_replaced_without_an_error(tmp_path):
    handler = RecordingHandler()
    with smtp_server(handler=handler) as server:
        port = server.port
        transport = SmtpTransport(make_settings(tmp_path, port))
        await transport.send(envelope(message_id=1))
    try:
        # Same port, new server process: the transport's open connection is dead.
        with smtp_server(handler=handler, port=port):
            await transport.send(envelope(message_id=2))
    finally:
        await transport.close()
    assert len(handler.received) == 2
    assert handler.connections == 2
    assert transport.connections_opened == 2


async def test_starttls_with_a_self_signed_certificate_and_login(tmp_path, cert):
    with smtp_server(cert=cert, mode="starttls", users={"mailer": "s3cret"}) as server:
        settings = make_settings(
            tmp_path,
            server.port,
            smtp_security="starttls",
            smtp_ca_file=cert[0],
            smtp_user="mailer",
            smtp_password="s3cret",
        )
        transport = SmtpTransport(settings)
        try:
            await transport.send(envelope(message_id=1))
            await transport.send(envelope(message_id=2))
        finally:
            await transport.close()
    assert [r.authenticated_as for r in server.handler.received] == ["mailer", "mailer"]
    assert server.handler.connections == 1


async def test_an_untrusted_certificate_is_refused_as_retryable(tmp_path, cert):
    with smtp_server(cert=cert, mode="starttls") as server:
        transport = SmtpTransport(make_settings(tmp_path, server.port, smtp_security="starttls"))
        try:
            with pytest.raises(TransportError) as failure:
                await transport.send(envelope())
        finally:
            await transport.close()
    assert failure.value.permanent is False
    assert failure.value.uncertain is False  # nothing was sent: safe to retry
    assert server.handler.received == []


async def test_implicit_tls_without_certificate_checks(tmp_path, cert):
    with smtp_server(cert=cert, mode="tls") as server:
        settings = make_settings(tmp_path, server.port, smtp_security="tls", smtp_validate_certs=False)
        transport = SmtpTransport(settings)
        try:
            await transport.send(envelope())
        finally:
            await transport.close()
    assert len(server.handler.received) == 1


async def test_recipient_refusals_are_classified_and_the_connection_survives(tmp_path):
    handler = RecordingHandler()
    handler.rcpt_replies = {
        "gone@customer.example": "550 5.1.1 No such user",
        "busy@customer.example": "451 4.7.1 Greylisted, try again later",
    }
    with smtp_server(handler=handler) as server:
        transport = SmtpTransport(make_settings(tmp_path, server.port))
        try:
            with pytest.raises(TransportError) as gone:
                await transport.send(envelope(message_id=1, recipient="gone@customer.example"))
            with pytest.raises(TransportError) as busy:
                await transport.send(envelope(message_id=2, recipient="busy@customer.example"))
            await transport.send(envelope(message_id=3))
        finally:
            await transport.close()
    assert (gone.value.permanent, gone.value.code, gone.value.recipient) == (True, "550", True)
    assert (busy.value.permanent, busy.value.code, busy.value.recipient) == (False, "451", False)
    assert [r.rcpt_tos for r in handler.received] == [["accounts@customer.example"]]
    assert transport.connections_opened == 1  # RSET after each refusal, no reconnect


@pytest.mark.parametrize(
    ("stage", "reply", "permanent"),
    [
        ("data", "554 5.7.1 Message rejected as spam", True),
        ("data", "452 4.3.1 Insufficient system storage", False),
        ("mail", "553 5.7.1 Sender address not allowed", False),  # our configuration, not this message
        ("mail", "552 5.3.4 Message size exceeds fixed limit", True),
    ],
)
async def test_refusals_at_mail_and_data_are_classified(tmp_path, stage, reply, permanent):
    handler = RecordingHandler()
    getattr(handler, f"{stage}_replies").append(reply)
    with smtp_server(handler=handler) as server:
        transport = SmtpTransport(make_settings(tmp_path, server.port))
        try:
            with pytest.raises(TransportError) as failure:
                await transport.send(envelope(message_id=1))
            await transport.send(envelope(message_id=2))  # the session is still usable
        finally:
            await transport.close()
    assert (failure.value.permanent, failure.value.code) == (permanent, reply[:3])
    assert not failure.value.recipient and not failure.value.uncertain  # about the content or us, not the address
    assert len(handler.received) == 1 and transport.connections_opened == 1


class SilentAfterData(RecordingHandler):
    """Takes the whole message, then never answers: the client cannot know whether it was kept."""

    def __init__(self) -> None:
        super().__init__()
        self.release = asyncio.Event()

    async def handle_DATA(self, server, session, envelope):
        await self.release.wait()
        return "250 OK"


async def test_no_answer_after_the_body_is_uncertain(tmp_path):
    handler = SilentAfterData()
    with smtp_server(handler=handler) as server:
        transport = SmtpTransport(make_settings(tmp_path, server.port, smtp_timeout_seconds=0.3))
        try:
            with pytest.raises(TransportError) as failure:
                await transport.send(envelope())
        finally:
            await transport.close()
            server.controller.loop.call_soon_threadsafe(handler.release.set)
    assert (failure.value.permanent, failure.value.code, failure.value.uncertain) == (False, "data_timeout", True)


async def test_a_421_at_mail_reconnects_and_sends(tmp_path):
    handler = RecordingHandler()
    handler.mail_replies.append("421 4.7.0 Too many messages on this connection")
    with smtp_server(handler=handler) as server:
        transport = SmtpTransport(make_settings(tmp_path, server.port))
        try:
            await transport.send(envelope(message_id=1))
        finally:
            await transport.close()
    assert len(handler.received) == 1
    assert transport.connections_opened == 2


async def test_concurrent_sends_share_the_connection(tmp_path):
    with smtp_server() as server:
        transport = SmtpTransport(make_settings(tmp_path, server.port))
        try:
            await asyncio.gather(
                *(transport.send(envelope(message_id=i, recipient=f"c{i}@customer.example")) for i in range(8))
            )
        finally:
            await transport.close()
    assert sorted(r.rcpt_tos[0] for r in server.handler.received) == sorted(f"c{i}@customer.example" for i in range(8))
    assert server.handler.connections == 1


async def test_nobody_listening_is_retryable(tmp_path):
    with socket.socket() as probe:  # a port that was free a moment ago and has no listener
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    transport = SmtpTransport(make_settings(tmp_path, port))
    with pytest.raises(TransportError) as failure:
        await transport.send(envelope())
    await transport.close()
    assert failure.value.permanent is False
    assert failure.value.uncertain is False  # nothing was sent: safe to retry


async def test_a_message_id_from_the_outbox_is_kept(tmp_path):
    with smtp_server() as server:
        transport = SmtpTransport(make_settings(tmp_path, server.port))
        try:
            receipt = await transport.send(envelope(headers={"Message-ID": "<stable.7@replies.example.com>"}))
        finally:
            await transport.close()
    assert receipt.provider_id == "<stable.7@replies.example.com>"
    assert server.handler.received[0].message()["Message-ID"] == "<stable.7@replies.example.com>"


async def test_a_bad_address_fails_before_connecting(tmp_path):
    transport = SmtpTransport(make_settings(tmp_path, 9))  # nothing is contacted
    with pytest.raises(TransportError) as failure:
        await transport.send(envelope(recipient="not-an-address"))
    assert (failure.value.permanent, failure.value.code, failure.value.recipient) == (True, "invalid_address", True)
    assert transport.connections_opened == 0
