"""Letters: what the PDF says, where the address sits, and the hand-over to a provider."""

from __future__ import annotations

import json
from dataclasses import replace
from email.parser import BytesParser
from email.policy import default as default_policy

import pytest
from pypdf import PdfReader

from dunning.channels.contract import Envelope, TransportError
from dunning.channels.files import FileDropLetterProvider
from dunning.channels.letter import HttpLetterProvider, LetterTransport
from dunning.channels.render import render_letter_html, render_letter_pdf, sample_context
from tests.fakes import LoopbackHTTPServer, Reply

pytestmark = [pytest.mark.anyio, pytest.mark.filterwarnings("ignore:HarfBuzz-Subset:DeprecationWarning")]

MM = 72 / 25.4


@pytest.fixture
def anyio_backend():
    return "asyncio"


@pytest.fixture(scope="module")
def pdfs(tmp_path_factory):
    # Rendered once for the module: WeasyPrint is the slow part of these tests.
    out = tmp_path_factory.mktemp("letters")
    return {
        "en": render_letter_pdf("formal_notice", sample_context("en"), out / "en-formal.pdf"),
        "fr": render_letter_pdf("registered_letter", sample_context("fr"), out / "fr-registered.pdf"),
    }


def text_of(path) -> str:
    return " ".join(" ".join(page.extract_text() for page in PdfReader(path).pages).split())


def test_the_letter_lists_invoices_total_and_deadline(pdfs):
    text = text_of(pdfs["en"])
    for number in ("INV-1001", "INV-1017", "INV-1042"):
        assert number in text
    assert "Total due £1,931.70" in text
    assert "no later than 9 October 2025" in text
    assert "Late payment interest, invoice INV-1001" in text
    assert "1 August 2025 to 1 October 2025: £1,200.00 × 12.25% × 62/365 days = £24.97" in text


def test_a_french_business_gets_a_mise_en_demeure(pdfs):
    text = text_of(pdfs["fr"])
    assert "Mise en demeure de payer" in text
    assert "nous vous mettons en demeure de nous régler la somme de 1 901,45 €" in text
    assert "au plus tard le 9 octobre 2025" in text
    assert "article L441-10 du Code de commerce" in text
    assert "indemnité forfaitaire pour frais de recouvrement de 40,00 € par facture" in text
    assert "pénalités de retard au taux de 12,15 % l'an" in text
    assert "Recommandé avec AR" in text


def test_a_french_consumer_gets_no_commercial_code_wording():
    html = render_letter_html("registered_letter", sample_context("fr", kind="consumer"))
    assert "mise en demeure" in html and "L441-10" not in html and "1344 du Code civil" in html


def test_the_address_sits_in_the_envelope_window(pdfs):
    # DIN 5008 form B: the address zone of the window is 20-105 mm from the left edge and
    # 62.7-90 mm from the top (below the 17.7 mm return-address and remark zone).
    page = PdfReader(pdfs["fr"]).pages[0]
    height = float(page.mediabox.height)
    where = {}

    def visit(text, cm, tm, font, size):
        if text.strip():
            x = tm[4] * cm[0] + tm[5] * cm[2] + cm[4]
            y = tm[4] * cm[1] + tm[5] * cm[3] + cm[5]
            where.setdefault(text.strip(), (x / MM, (height - y) / MM))

    page.extract_text(visitor_text=visit)
    for line in ("Dupont & Fils SARL", "12 rue de la Paix", "75002 Paris"):
        x, y = where[line]
        assert 20 <= x <= 105 and 62.7 <= y <= 90, (line, x, y)


async def test_file_drop_writes_pdf_and_manifest(tmp_path, pdfs):
    transport = LetterTransport(FileDropLetterProvider(tmp_path / "letters"), tmp_path / "work")
    envelope = Envelope(
        message_id=31,
        channel="letter",
        recipient="Dupont & Fils SARL\n12 rue de la Paix\n75002 Paris\nFrance",
        pdf_path=pdfs["fr"],
        metadata={"registered": True, "reference": "C-000123", "case_id": 9},
    )
    receipt = await transport.send(envelope)
    await transport.send(envelope)  # a retry overwrites
    assert sorted(p.name for p in (tmp_path / "letters").iterdir()) == ["31.json", "31.pdf"]
    manifest = json.loads((tmp_path / "letters" / "31.json").read_text())
    assert manifest["recipient"] == {
        "name": "Dupont & Fils SARL",
        "lines": ["Dupont & Fils SARL", "12 rue de la Paix", "75002 Paris", "France"],
    }
    assert manifest["registered"] is True
    assert manifest["pages"] == len(PdfReader(pdfs["fr"]).pages)
    assert manifest["reference"] == "C-000123" and manifest["case_id"] == 9
    assert receipt.detail["registered"] is True


async def test_letter_html_is_printed_when_no_pdf_is_given(tmp_path):
    ctx = sample_context("en")
    ctx = replace(ctx, lines=ctx.lines[:1], total_minor=ctx.lines[0].balance_minor, fees=[], fees_total_minor=0)
    transport = LetterTransport(FileDropLetterProvider(tmp_path / "letters"), tmp_path / "work")
    envelope = Envelope(
        message_id=5,
        channel="letter",
        recipient="Acme Widgets Ltd\nUnit 4\nLeeds LS1 4AB",
        html=render_letter_html("reminder", ctx),
    )
    await transport.send(envelope)
    text = text_of(tmp_path / "letters" / "5.pdf")
    assert "INV-1001" in text and "INV-1017" not in text


async def test_an_incomplete_address_is_permanent(tmp_path, pdfs):
    transport = LetterTransport(FileDropLetterProvider(tmp_path), tmp_path)
    with pytest.raises(TransportError) as failure:
        await transport.send(Envelope(message_id=1, channel="letter", recipient="Just A Name", pdf_path=pdfs["en"]))
    assert (failure.value.permanent, failure.value.code) == (True, "invalid_address")


async def test_http_provider_gets_the_pdf_and_manifest(tmp_path, pdfs):
    with LoopbackHTTPServer(lambda r: Reply(202, b'{"id": "PRINT-881"}')) as printer:
        transport = LetterTransport(HttpLetterProvider(printer.url + "/letters", timeout=5), tmp_path)
        try:
            receipt = await transport.send(
                Envelope(
                    message_id=12,
                    channel="letter",
                    recipient="Acme Widgets Ltd\nUnit 4\nLeeds LS1 4AB",
                    pdf_path=pdfs["en"],
                    metadata={"registered": False, "reference": "C-1"},
                )
            )
        finally:
            await transport.close()
    [request] = printer.requests
    assert request.headers["Idempotency-Key"] == "dunning-message-12"
    raw = f"Content-Type: {request.headers['Content-Type']}\r\n\r\n".encode() + request.body
    parts = {
        part.get_param("name", header="content-disposition"): part
        for part in BytesParser(policy=default_policy).parsebytes(raw).iter_parts()
    }
    assert parts["file"].get_content() == pdfs["en"].read_bytes()
    assert json.loads(parts["manifest"].get_content())["recipient"]["name"] == "Acme Widgets Ltd"
    assert receipt.provider_id == "PRINT-881"


async def test_http_provider_failures_are_classified(tmp_path, pdfs):
    answers = iter([Reply(502, b"bad gateway"), Reply(400, b'{"error": "address"}')])
    with LoopbackHTTPServer(lambda r: next(answers)) as printer:
        transport = LetterTransport(HttpLetterProvider(printer.url, timeout=5), tmp_path)
        envelope = Envelope(message_id=1, channel="letter", recipient="A\nB", pdf_path=pdfs["en"])
        try:
            with pytest.raises(TransportError) as first:
                await transport.send(envelope)
            with pytest.raises(TransportError) as second:
                await transport.send(envelope)
        finally:
            await transport.close()
    assert (first.value.permanent, second.value.permanent) == (False, True)
