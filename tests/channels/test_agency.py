"""Agency hand-off: the signed case file, received by a real HTTP server on loopback."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
from datetime import date
from decimal import Decimal

import pytest

from dunning.channels.agency import AgencyWebhookTransport, sign, verify
from dunning.channels.contract import Envelope, TransportError
from dunning.channels.files import FileAgencyTransport
from tests.fakes import LoopbackHTTPServer, Reply

pytestmark = pytest.mark.anyio

SECRET = "agency-shared-secret"


@pytest.fixture
def anyio_backend():
    return "asyncio"


def case_envelope(tmp_path, message_id: int = 77) -> Envelope:
    statement = tmp_path / "statement-C-000123.pdf"
    statement.write_bytes(b"%PDF-1.7\n% statement bytes\n")
    case_file = {
        "customer": {"external_id": "CUST-9", "name": "Dupont & Fils SARL", "country": "FR"},
        "contacts": [{"kind": "email", "value": "compta@dupont.example"}, {"kind": "sms", "value": "+33612345678"}],
        "invoices": [
            {"number": "INV-1001", "due_on": date(2025, 7, 31), "balance": Decimal("1200.00")},
            {"number": "INV-1017", "due_on": date(2025, 8, 19), "balance": Decimal("450.50")},
        ],
        "messages": [{"template": "reminder", "channel": "email", "status": "sent"}],
        "replies": [{"channel": "sms", "text": "je paie vendredi", "intent": "promise"}],
        "broken_promises": [{"promised_on": date(2025, 9, 5), "amount": "1650.50"}],
    }
    return Envelope(
        message_id=message_id,
        channel="agency",
        recipient="agency",
        payload=case_file,
        pdf_path=statement,
        metadata={"reference": "C-000123"},
    )


async def test_the_case_file_arrives_signed_and_complete(tmp_path):
    with LoopbackHTTPServer(lambda r: Reply(201, b'{"id": "AG-5521"}')) as agency:
        transport = AgencyWebhookTransport(agency.url + "/intake", SECRET, timeout=5)
        try:
            receipt = await transport.send(case_envelope(tmp_path))
        finally:
            await transport.close()

    [request] = agency.requests
    assert request.method == "POST" and request.path == "/intake"
    expected = "sha256=" + hmac.new(SECRET.encode(), request.body, hashlib.sha256).hexdigest()
    assert request.headers["X-Dunning-Signature"] == expected
    assert request.headers["Idempotency-Key"] == "dunning-message-77"
    assert receipt.provider_id == "AG-5521"

    document = json.loads(request.body)
    assert document["reference"] == "C-000123"
    case = document["case_file"]
    assert case["customer"]["name"] == "Dupont & Fils SARL"
    assert [i["number"] for i in case["invoices"]] == ["INV-1001", "INV-1017"]
    assert case["invoices"][0] == {"number": "INV-1001", "due_on": "2025-07-31", "balance": "1200.00"}
    assert case["replies"][0]["text"] == "je paie vendredi"
    assert case["broken_promises"][0]["promised_on"] == "2025-09-05"
    [statement] = document["documents"]
    assert statement["content_type"] == "application/pdf"
    assert base64.b64decode(statement["content_base64"]) == b"%PDF-1.7\n% statement bytes\n"


def test_signature_helpers_reject_a_changed_body():
    body = b'{"a":1}'
    assert verify(body, SECRET, sign(body, SECRET))
    assert not verify(b'{"a":2}', SECRET, sign(body, SECRET))
    assert not verify(body, SECRET, None)


@pytest.mark.parametrize(
    ("status", "permanent"),
    [(500, False), (503, False), (429, False), (408, False), (400, True), (401, True), (422, True)],
)
async def test_answers_are_classified(tmp_path, status, permanent):
    with LoopbackHTTPServer(lambda r: Reply(status, b'{"error": "no"}')) as agency:
        transport = AgencyWebhookTransport(agency.url, SECRET, timeout=5)
        try:
            with pytest.raises(TransportError) as failure:
                await transport.send(case_envelope(tmp_path))
        finally:
            await transport.close()
    assert (failure.value.permanent, failure.value.code) == (permanent, str(status))


async def test_a_timeout_is_retryable(tmp_path):
    release = threading.Event()

    def stall(request):
        release.wait(10)  # held until the client has given up
        return Reply(200, b"{}")

    with LoopbackHTTPServer(stall) as agency:
        transport = AgencyWebhookTransport(agency.url, SECRET, timeout=0.2)
        try:
            with pytest.raises(TransportError) as failure:
                await transport.send(case_envelope(tmp_path))
        finally:
            release.set()
            await transport.close()
    assert (failure.value.permanent, failure.value.code) == (False, "timeout")


def test_an_unsigned_hand_off_is_refused():
    with pytest.raises(ValueError):
        AgencyWebhookTransport("https://agency.example/intake", "")


async def test_file_drop_writes_the_same_document_and_the_pdf(tmp_path):
    out = tmp_path / "outbox" / "agency"
    transport = FileAgencyTransport(out)
    envelope = case_envelope(tmp_path)
    receipt = await transport.send(envelope)
    await transport.send(envelope)  # a retry overwrites
    assert sorted(p.name for p in out.iterdir()) == ["77.json", "77.pdf"]
    document = json.loads((out / "77.json").read_text())
    assert document["case_file"]["customer"]["external_id"] == "CUST-9"
    assert (out / "77.pdf").read_bytes() == envelope.pdf_path.read_bytes()
    assert receipt.provider_id == "file-agency-77"
