"""German, Spanish, Italian and Dutch from end to end: a reminder by email (through SMTP) and by
SMS (through the twilio library) in the customer's language and number format, the final notice
as a PDF in that country's legal form, and the customer's answer in their own words, texted in
through the signed inbound route, recording a promise for the right day."""

from __future__ import annotations

from datetime import date

import pytest
from pypdf import PdfReader
from sqlalchemy import select

from dunning.records.arrangements import Promise
from dunning.records.replies import InboundMessage
from tests.builders import customer, invoice
from tests.fakes.smtp import smtp_server
from tests.outbox.support import cycle, dispatch, messages, outbox_settings, seed, smtp, use_policy
from tests.replies.support import text_in

pytestmark = pytest.mark.filterwarnings("ignore:HarfBuzz-Subset:DeprecationWarning")

POLICY = """
name: default
bands: [{name: only}]
paths:
  only:
    steps:
      - {key: r1, after_days: 1, kind: reminder, channels: [email, sms]}
      - {key: final, after_days: 3, kind: registered_letter, channels: [letter], fees: true, requires_approval: false}
contact: {business_days_only: false, min_days_between_contacts: 1}
"""

# language: country, time zone, phone, address, what the reminder's subject says, the money as
# the locale writes it, the SMS opt-out line, the final notice's legal words, the reply, its day.
CASES = {
    "de": (
        "DE",
        "Europe/Berlin",
        "+4915112345678",
        "Industriestraße 12\n70565 Stuttgart\nDeutschland",
        "Zahlungserinnerung",
        "12.345,67 €",
        "Antworten Sie STOP, um keine SMS mehr zu erhalten",
        ("Letzte Mahnung", "Verzug (§ 286 BGB)", "§ 288 Abs. 2 BGB", "Verzugspauschale", "Basiszinssatz"),
        "Wir überweisen am 15.",
        date(2026, 3, 15),
    ),
    "es": (
        "ES",
        "Europe/Madrid",
        "+34612345678",
        "Calle de Alcalá 45\n28014 Madrid\nEspaña",
        "Recordatorio",
        "12.345,67 €",
        "Responda STOP para darse de baja",
        ("Requerimiento de pago", "Ley 3/2004", "artículo 8", "Intereses de demora", "procedimiento monitorio"),
        "Pagaremos el viernes",
        date(2026, 3, 6),
    ),
    "it": (
        "IT",
        "Europe/Rome",
        "+393471234567",
        "Via Torino 21\n20123 Milano MI\nItalia",
        "Promemoria",
        "12.345,67 €",
        "Risponda STOP per non ricevere più SMS",
        (
            "Diffida ad adempiere e costituzione in mora",
            "art. 1219 del Codice civile",
            "D.Lgs. 9 ottobre 2002",
            "Interessi di mora",
            "decreto ingiuntivo",
        ),
        "Pagheremo venerdì",
        date(2026, 3, 6),
    ),
    "nl": (
        "NL",
        "Europe/Amsterdam",
        "+31612345678",
        "Keizersgracht 100\n1015 CV Amsterdam\nNederland",
        "Herinnering",
        "€ 12.345,67",
        "Antwoord STOP om u af te melden",
        ("Ingebrekestelling", "artikel 6:119a BW", "artikel 6:96 lid 4 BW", "Wettelijke handelsrente", "incassobureau"),
        "We betalen vrijdag",
        date(2026, 3, 6),
    ),
}


def flat(text: str) -> str:
    # babel separates numbers and units with (narrow) no-break spaces; compare on plain spaces
    return " ".join(text.replace("\u202f", " ").replace("\u00a0", " ").split())


@pytest.fixture
def server():
    with smtp_server() as running:
        yield running


@pytest.mark.parametrize("lang", sorted(CASES))
def test_reminders_final_notice_and_a_promise_in_the_customers_language(
    lang, client, anonymous, db, clock, settings, twilio, server
):
    country, tz, phone, address, subject, money, opt_out, legal, reply, promised = CASES[lang]
    settings = outbox_settings(settings, **smtp(server.port))
    use_policy(db, clock, POLICY)
    seed(
        db,
        clock,
        [customer("C1", name="Kunde & Co", language=lang, country=country, timezone=tz, phone=phone, address=address)],
        [invoice("I1", total="12345.67"), invoice("I2", total="500.00", due=date(2026, 2, 10))],
    )

    cycle(db, clock, settings)  # Monday 2 March 2026: the reminder, by email and SMS
    assert dispatch(db, clock, settings)["sent"] == 2
    [got] = server.handler.received
    mail = got.message()
    text = flat(mail.get_body(("plain",)).get_content())
    assert mail["Subject"].startswith(subject)
    assert "N-I1" in text and "N-I2" in text and money in text
    assert "12,345.67" not in text and "EUR" not in text  # no English digits, no currency code
    [sms] = twilio.messages
    assert sms["To"] == phone and flat(sms["Body"]).endswith(opt_out)
    assert "N-I1" in sms["Body"] or "2 " in sms["Body"]

    clock.advance(days=2)  # Wednesday 4 March: the final notice, a registered letter
    cycle(db, clock, settings)
    assert dispatch(db, clock, settings)["sent"] == 1
    [letter] = [m for m in messages(db) if m.channel == "letter"]
    pdf = flat(" ".join(page.extract_text() for page in PdfReader(letter.pdf_path).pages))
    for words in legal:
        assert words in pdf, (words, pdf)
    assert "N-I1" in pdf and "N-I2" in pdf and money in pdf
    for english in ("invoice", "Dear", "interest", "days late"):
        assert english not in pdf

    r = text_in(anonymous, reply, sender=phone)  # the customer answers the SMS
    assert r.status_code == 200, r.text
    with db.session() as s:
        promise = s.execute(select(Promise)).scalar_one()
        inbound = s.execute(select(InboundMessage)).scalar_one()
    assert (inbound.language, inbound.intent, inbound.confidence) == (lang, "promise_to_pay", 1.0)
    assert inbound.action == "promise_recorded" and promise.promised_on == promised and promise.status == "open"
