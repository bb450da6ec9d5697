"""From the reminder to the receipt: the reminder's link, Pay now, Stripe's Checkout Session, the
signed event, one payment, the case closed, the receipt written by the file transport, and the
neighbour system told (payment.received, case.closed) on a loopback receiver that verifies the
signature."""

from __future__ import annotations

import re
from datetime import date
from email import message_from_bytes
from email.policy import default as default_policy
from html import unescape
from urllib.parse import urlsplit

from fastapi.testclient import TestClient
from sqlalchemy import select

from dunning.cases.models import CLOSED, Case
from dunning.ledger import service as ledger_service
from dunning.ledger.batch import Batch
from dunning.ledger.schemas import PaymentIn
from dunning.webhooks import service as webhook_service
from dunning.webhooks.egress import system_resolver
from tests.builders import customer, invoice, payment
from tests.fakes.webhooks import Receiver
from tests.outbox.support import REMINDER_THEN_REGISTERED, cycle, dispatch, messages, seed, use_policy
from tests.payments.support import balances, deliver, pay_now, payments
from tests.webhooks.support import deliver as deliver_events

LINK = re.compile(r"http://127\.0\.0\.1:8000(/portal/[^\s#\"<]+)(#account-EUR)?")


def read_mail(path) -> tuple[str, str]:
    """Subject and text, with babel's no-break spaces as plain ones."""
    mail = message_from_bytes(path.read_bytes(), policy=default_policy)
    return tuple(
        " ".join(part.replace("\u00a0", " ").split(" "))
        for part in (mail["Subject"], mail.get_body(("plain",)).get_content())
    )


def test_from_the_reminder_to_the_receipt(app, db, clock, settings, fake_stripe):
    # the clock is not today's: the receiver checks the signature, not the timestamp's age
    receiver = Receiver(tolerance=False).__enter__()
    with db.session() as session:
        receiver.secret = webhook_service.create_endpoint(
            session,
            clock,
            settings,
            system_resolver,
            url=receiver.url,
            events=["payment.received", "case.closed"],
            description="ERP",
            actor="test",
        ).secret
    use_policy(db, clock, REMINDER_THEN_REGISTERED)
    ids = seed(
        db,
        clock,
        [customer("FR1", name="Dupont SARL")],
        [
            invoice("I1", "FR1", due=date(2026, 2, 1), total="100.00"),
            invoice("I2", "FR1", due=date(2026, 2, 10), total="200.00"),
        ],
    )
    cycle(db, clock, settings)
    dispatch(db, clock, settings)
    [reminder] = messages(db, kind="reminder")
    subject, text = read_mail(settings.outbox_dir / "email" / f"{reminder.id}.eml")

    # the reminder's Pay now leads to the portal, not to a static address
    links = LINK.findall(text)
    assert links and {path for path, _ in links} == {links[0][0]} and ("#account-EUR" in {a for _, a in links})
    browser = TestClient(app, raise_server_exceptions=False)
    page = browser.get(links[0][0])
    assert page.status_code == 200 and "Payer maintenant" in page.text
    answer = pay_now(browser, links[0][0], page.text, "EUR")
    assert answer.status_code == 303
    [opened] = fake_stripe.sessions.values()
    assert answer.headers["location"] == opened.body["url"]
    assert opened.form["line_items[0][price_data][unit_amount]"] == "30000"

    # the customer paid; Stripe tells us, twice; the accounting system pushes its copy a day later
    completed = fake_stripe.completed(opened.id, payment_intent="pi_3OrE2E", created=int(clock.now().timestamp()))
    assert deliver(browser, completed).json()["outcome"] == "recorded"
    assert deliver(browser, completed).json()["outcome"] == "duplicate"
    with db.session() as session:
        ledger_service.push_payments(
            session,
            clock,
            Batch.of(
                PaymentIn,
                [
                    PaymentIn(
                        **payment(
                            "ERP-2026-0042", "FR1", "300.00", received_on="2026-03-03", provider_reference="pi_3OrE2E"
                        )
                    )
                ],
            ),
            "payment",
        )
    assert [(p.external_id, p.amount_minor) for p in payments(db)] == [("ERP-2026-0042", 30000)]
    assert balances(db) == {"I1": 0, "I2": 0}
    with db.session() as session:
        assert session.execute(select(Case.state).where(Case.customer_id == ids["FR1"])).scalar_one() == CLOSED

    # Stripe sends the customer back; the receipt goes out, in French
    back = unescape(browser.get(urlsplit(opened.form["success_url"]).path).text)
    assert "Merci pour votre paiement" in back and "Rien n'est dû sur votre compte" in back
    dispatch(db, clock, settings)
    [receipt] = messages(db, kind="payment_receipt")
    assert receipt.status == "sent"
    subject, text = read_mail(settings.outbox_dir / "email" / f"{receipt.id}.eml")
    assert subject == "Paiement reçu : 300,00 €, merci"
    assert "nous avons bien reçu votre paiement de 300,00 € le 2 mars 2026 pour les factures N-I1, N-I2" in text
    assert "Plus rien n'est dû sur votre compte en EUR." in text
    assert [m.kind for m in messages(db) if m.status == "sent"] == ["reminder", "payment_receipt"]

    # the neighbour system hears of the money once (Stripe's copy, then the push that took its place)
    try:
        counts = deliver_events(db, clock, settings)
    finally:
        receiver.__exit__(None, None, None)
    assert counts["failed"] == 0 and not receiver.refused
    events = sorted(receiver.events(), key=lambda e: e["id"])
    assert [e["type"] for e in events] == ["payment.received", "case.closed"]  # the push is not new money
    assert (events[0]["data"]["payment"], events[0]["data"]["source"]) == ("stripe:pi_3OrE2E", "stripe")
    assert events[1]["data"]["customer"] == "FR1" and events[1]["data"]["currency"] == "EUR"
