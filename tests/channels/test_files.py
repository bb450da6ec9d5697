"""The embedded default: file transports, and the registry that picks them."""

from __future__ import annotations

import json
from email import message_from_bytes
from email.policy import default as default_policy

import pytest

from dunning.channels.agency import AgencyWebhookTransport
from dunning.channels.contract import Envelope, TransportError
from dunning.channels.email import MailIdentity, SmtpTransport
from dunning.channels.files import (
    FileAgencyTransport,
    FileDropLetterProvider,
    FileEmailTransport,
    FileSmsTransport,
)
from dunning.channels.letter import HttpLetterProvider
from dunning.channels.sms import TwilioSmsTransport
from dunning.channels.transports import build_transports, close_transports
from dunning.config import Settings

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend():
    return "asyncio"


async def test_email_files_are_named_by_message_and_overwritten_on_retry(tmp_path):
    transport = FileEmailTransport(tmp_path / "email", MailIdentity("ar@example.com", "AR", "replies.example.com"))
    envelope = Envelope(
        message_id=8,
        channel="email",
        recipient="a@customer.example",
        subject="Hello",
        text="Body",
        html="<p>Body</p>",
        reply_to="tok8",
        metadata={"unsubscribe_url": "https://x.example/u/8"},
    )
    await transport.send(envelope)
    receipt = await transport.send(envelope)
    assert [p.name for p in (tmp_path / "email").iterdir()] == ["8.eml"]
    msg = message_from_bytes((tmp_path / "email" / "8.eml").read_bytes(), policy=default_policy)
    assert msg["Message-ID"] == receipt.provider_id
    assert msg["Reply-To"] == "ar+tok8@replies.example.com"
    assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert msg.get_body(("html",)).get_content().strip() == "<p>Body</p>"


async def test_email_file_transport_refuses_what_smtp_would(tmp_path):
    transport = FileEmailTransport(tmp_path, MailIdentity("ar@example.com", "AR", None))
    with pytest.raises(TransportError) as failure:
        await transport.send(Envelope(message_id=1, channel="email", recipient="nobody", text="x"))
    assert failure.value.permanent


async def test_sms_log_gets_one_line_per_message_even_across_restarts(tmp_path):
    log = tmp_path / "outbox" / "sms.jsonl"
    first = FileSmsTransport(log)
    await first.send(Envelope(message_id=1, channel="sms", recipient="+447700900123", text="One €"))
    await first.send(Envelope(message_id=1, channel="sms", recipient="+447700900123", text="One €"))
    restarted = FileSmsTransport(log)
    receipt = await restarted.send(Envelope(message_id=1, channel="sms", recipient="+447700900123", text="One €"))
    await restarted.send(Envelope(message_id=2, channel="sms", recipient="+33612345678", text="Deux"))
    records = [json.loads(line) for line in log.read_text().splitlines()]
    assert [(r["message_id"], r["body"]) for r in records] == [(1, "One €"), (2, "Deux")]
    assert records[0]["encoding"] == "GSM-7" and records[0]["segments"] == 1
    assert receipt.provider_id == "file-sms-1"


async def test_nothing_configured_means_files_under_the_outbox(tmp_path):
    settings = Settings(_env_file=None, var_dir=tmp_path / "var")
    transports = build_transports(settings)
    try:
        assert isinstance(transports["email"], FileEmailTransport)
        assert transports["email"].directory == tmp_path / "var" / "outbox" / "email"
        assert isinstance(transports["sms"], FileSmsTransport)
        assert isinstance(transports["letter"].provider, FileDropLetterProvider)
        assert isinstance(transports["agency"], FileAgencyTransport)
        assert {name: t.channel for name, t in transports.items()} == {
            "email": "email",
            "sms": "sms",
            "letter": "letter",
            "agency": "agency",
        }
    finally:
        await close_transports(transports)


async def test_configured_providers_get_real_transports(tmp_path):
    settings = Settings(
        _env_file=None,
        var_dir=tmp_path,
        smtp_host="smtp.example.com",
        twilio_account_sid="AC" + "1" * 32,
        twilio_auth_token="t",
        twilio_from_number="+15005550006",
        letter_provider_url="https://print.example.com/letters",
        agency_webhook_url="https://agency.example.com/intake",
        agency_webhook_secret="s",
    )
    transports = build_transports(settings)
    try:
        assert isinstance(transports["email"], SmtpTransport)
        assert isinstance(transports["sms"], TwilioSmsTransport)
        assert isinstance(transports["letter"].provider, HttpLetterProvider)
        assert isinstance(transports["agency"], AgencyWebhookTransport)
    finally:
        await close_transports(transports)  # nothing was connected: closing must not try


def test_an_agency_url_without_a_secret_is_refused(tmp_path):
    settings = Settings(_env_file=None, var_dir=tmp_path, agency_webhook_url="https://agency.example.com/intake")
    with pytest.raises(ValueError, match="SECRET"):
        build_transports(settings)
