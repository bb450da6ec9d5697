"""The Twilio transport through the real twilio library, against a local fake of the API."""

from __future__ import annotations

import base64
import threading

import pytest

from dunning.channels.contract import Envelope, TransportError
from dunning.channels.render import render_sms, sample_context, with_opt_out_line
from dunning.channels.sms import TwilioSmsTransport
from dunning.config import Settings
from tests.fakes import LoopbackHTTPServer, Reply
from tests.fakes.twilio_api import FakeTwilio

pytestmark = pytest.mark.anyio

SID = "AC" + "1" * 32
TOKEN = "fake-auth-token"


@pytest.fixture
def anyio_backend():
    return "asyncio"


@pytest.fixture
def twilio():
    with FakeTwilio(SID, TOKEN) as fake:
        yield fake


def make_settings(tmp_path, base: str, **overrides) -> Settings:
    values = dict(
        _env_file=None,
        var_dir=tmp_path,
        public_url="https://dunning.example.com",
        twilio_account_sid=SID,
        twilio_auth_token=TOKEN,
        twilio_from_number="+447700900000",
        twilio_api_base=base,
        http_timeout_seconds=5,
    )
    values.update(overrides)
    return Settings(**values)


def sms(text: str, message_id: int = 1, to: str = "+447700900123") -> Envelope:
    return Envelope(message_id=message_id, channel="sms", recipient=to, text=text)


async def test_a_rendered_reminder_goes_through_the_twilio_library(tmp_path, twilio):
    body = with_opt_out_line(render_sms("reminder", sample_context("fr")), "fr")
    transport = TwilioSmsTransport(make_settings(tmp_path, twilio.url))
    try:
        receipt = await transport.send(sms(body))
    finally:
        await transport.close()

    [form] = twilio.messages
    assert form["To"] == "+447700900123"
    assert form["From"] == "+447700900000"
    assert form["Body"] == body and body.endswith("Répondez STOP pour vous désabonner")
    assert form["StatusCallback"] == "https://dunning.example.com/v1/inbound/twilio/status"
    [request] = twilio.requests
    assert request.path == f"/2010-04-01/Accounts/{SID}/Messages.json"
    assert request.headers["Authorization"] == "Basic " + base64.b64encode(f"{SID}:{TOKEN}".encode()).decode()

    assert receipt.provider_id.startswith("SM") and len(receipt.provider_id) == 34
    assert receipt.detail["status"] == "queued"
    # The French template stays within GSM-7 even with accents, euro sign and grouped digits.
    assert receipt.detail["encoding"] == "GSM-7"
    assert receipt.detail["segments"] == 2


async def test_a_messaging_service_replaces_the_from_number(tmp_path, twilio):
    settings = make_settings(
        tmp_path, twilio.url, twilio_from_number=None, twilio_messaging_service_sid="MG" + "2" * 32
    )
    transport = TwilioSmsTransport(settings)
    try:
        receipt = await transport.send(sms("Hello"))
    finally:
        await transport.close()
    [form] = twilio.messages
    assert form["MessagingServiceSid"] == "MG" + "2" * 32 and "From" not in form
    assert receipt.detail["status"] == "accepted"


async def test_ucs2_text_is_counted_as_such(tmp_path, twilio):
    transport = TwilioSmsTransport(make_settings(tmp_path, twilio.url))
    try:
        receipt = await transport.send(sms("Merci, votre échéancier est enregistré : ça marche ✓"))
    finally:
        await transport.close()
    assert (receipt.detail["encoding"], receipt.detail["segments"]) == ("UCS-2", 1)


@pytest.mark.parametrize(
    ("status", "code", "permanent"),
    [
        (400, 21610, True),  # the recipient replied STOP
        (400, 21211, True),  # invalid 'To'
        (400, 21614, True),  # landline
        (400, 21408, True),  # region not enabled
        (429, 20429, False),  # too many requests
        (400, 30001, False),  # queue overflow
        (503, 20503, False),
        (500, None, False),  # a 5xx without a Twilio code
        (400, 12345, True),  # an unknown 4xx code
    ],
)
async def test_twilio_errors_are_classified(tmp_path, twilio, status, code, permanent):
    twilio.fail_next(status, code, "simulated")
    transport = TwilioSmsTransport(make_settings(tmp_path, twilio.url))
    try:
        with pytest.raises(TransportError) as failure:
            await transport.send(sms("Hello"))
    finally:
        await transport.close()
    assert failure.value.permanent is permanent
    assert failure.value.code == str(code or status)
    assert twilio.messages == []


async def test_wrong_credentials_are_retryable(tmp_path, twilio):
    transport = TwilioSmsTransport(make_settings(tmp_path, twilio.url, twilio_auth_token="wrong"))
    try:
        with pytest.raises(TransportError) as failure:
            await transport.send(sms("Hello"))
    finally:
        await transport.close()
    assert (failure.value.permanent, failure.value.code) == (False, "20003")


async def test_an_unreachable_api_is_retryable(tmp_path):
    with FakeTwilio(SID, TOKEN) as gone:
        base = gone.url  # stopped when the block ends: nobody listens there any more
    transport = TwilioSmsTransport(make_settings(tmp_path, base))
    try:
        with pytest.raises(TransportError) as failure:
            await transport.send(sms("Hello"))
    finally:
        await transport.close()
    assert (failure.value.permanent, failure.value.code) == (False, "connection")
    assert failure.value.uncertain is False  # the request never left: safe to retry


async def test_no_answer_after_the_request_is_uncertain(tmp_path):
    answered = threading.Event()

    def hang(request):
        answered.wait(10)  # until the client has given up
        return Reply(201, b"{}")

    with LoopbackHTTPServer(hang) as slow:
        transport = TwilioSmsTransport(make_settings(tmp_path, slow.url, http_timeout_seconds=0.3))
        try:
            with pytest.raises(TransportError) as failure:
                await transport.send(sms("Hello"))
        finally:
            answered.set()
            await transport.close()
    assert (failure.value.permanent, failure.value.uncertain) == (False, True)


def test_a_sender_is_required(tmp_path):
    with pytest.raises(ValueError):
        TwilioSmsTransport(make_settings(tmp_path, "http://127.0.0.1:9", twilio_from_number=None))
