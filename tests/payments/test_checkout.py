"""Pay now on the portal: a Stripe Checkout Session for exactly what the customer chose, through
the real stripe library against the local fake of Stripe's API."""

from __future__ import annotations

import re
from datetime import date, timedelta
from urllib.parse import urlsplit

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from dunning.arrangements import disputes
from dunning.clock import FrozenClock
from dunning.ledger.models import Invoice
from dunning.payments.models import PROCESSING, Checkout
from tests.builders import customer, invoice
from tests.outbox.support import seed
from tests.payments.support import CHECKED, SECRET_KEY, checkouts, error_text, pay_now
from tests.web.support import portal


@pytest.fixture
def ids(db, clock):
    """Dupont owes I1 (100 €, due 1 Feb) and I2 (200 €, due 10 Feb), and I3 (300 €, not due before
    April); Martin is another customer."""
    return seed(
        db,
        clock,
        [customer("FR1", name="Dupont SARL"), customer("FR2", name="Martin SA")],
        [
            invoice("I1", "FR1", due=date(2026, 2, 1), total="100.00"),
            invoice("I2", "FR1", due=date(2026, 2, 10), total="200.00"),
            invoice("I3", "FR1", due=date(2026, 4, 1), total="300.00"),
            invoice("J1", "FR2", due=date(2026, 2, 1), total="999.00"),
        ],
    )


def invoice_ids(db, *external_ids: str) -> list[int]:
    with db.session() as session:
        found = dict(
            session.execute(select(Invoice.external_id, Invoice.id).where(Invoice.external_id.in_(external_ids))).all()
        )
    return [found[e] for e in external_ids]


def test_pay_now_offers_the_overdue_invoices_and_opens_a_session_for_exactly_them(app, db, settings, ids, fake_stripe):
    client, path, _ = portal(app, settings, ids["FR1"])
    page = client.get(path).text
    assert 'action="' + path + '/pay"' in page and "Payer maintenant" in page
    assert sorted(int(i) for i in CHECKED.findall(page)) == sorted(invoice_ids(db, "I1", "I2"))  # not I3, not due

    answer = pay_now(client, path, page, "EUR")
    assert answer.status_code == 303, answer.text
    [opened] = fake_stripe.sessions.values()
    assert answer.headers["location"] == f"https://checkout.stripe.com/c/pay/{opened.id}"
    form = opened.form
    # what the library sent, field by field
    assert fake_stripe.requests[-1].headers["Authorization"] == f"Bearer {SECRET_KEY}"
    assert fake_stripe.requests[-1].headers["Idempotency-Key"].startswith("dunning-checkout-")
    assert form["mode"] == "payment"
    assert form["line_items[0][price_data][currency]"] == "eur"
    assert form["line_items[0][price_data][unit_amount]"] == "30000"  # 100 € + 200 €, in cents
    assert form["line_items[0][price_data][product_data][name]"] == "Factures N-I1, N-I2"
    assert not any(k.startswith("payment_method_types") for k in form)  # what the account allows
    assert form["customer_email"] == "fr1@example.com" and form["locale"] == "fr"
    i1, i2 = invoice_ids(db, "I1", "I2")
    for metadata in (opened.metadata(), opened.metadata("payment_intent_data")):
        assert metadata["dunning_customer"] == "FR1"
        assert metadata["dunning_invoices"] == f"{i1},{i2}"
        assert metadata["invoices"] == "N-I1, N-I2"
    key = opened.metadata()["dunning_checkout"]
    assert form["success_url"] == f"http://127.0.0.1:8000/portal/{key}/paid"
    assert form["cancel_url"] == f"http://127.0.0.1:8000/portal/{key}/cancelled"
    assert path.split("/")[-1] not in form["success_url"]  # the portal link never goes to Stripe
    [row] = checkouts(db)
    assert (row.session_id, row.amount_minor, row.invoice_ids, row.status) == (opened.id, 30000, [i1, i2], "open")


def test_the_customer_chooses_which_invoices_and_a_second_click_gets_the_same_session(
    app, db, settings, ids, fake_stripe
):
    client, path, _ = portal(app, settings, ids["FR1"])
    page = client.get(path).text
    i3, i1 = invoice_ids(db, "I3", "I1")
    first = pay_now(client, path, page, "EUR", [i3, i1])
    second = pay_now(client, path, page, "EUR", [i3, i1])
    assert first.status_code == second.status_code == 303
    assert first.headers["location"] == second.headers["location"]
    assert len(fake_stripe.sessions) == 1 and len(checkouts(db)) == 1  # Stripe answered the key again
    [opened] = fake_stripe.sessions.values()
    assert opened.form["line_items[0][price_data][unit_amount]"] == "40000"
    assert opened.metadata()["dunning_invoices"] == f"{i1},{i3}"  # oldest due first: the order they are paid in
    # another choice is another session
    assert pay_now(client, path, page, "EUR", [i1]).status_code == 303
    assert len(fake_stripe.sessions) == 2


@pytest.mark.parametrize(
    "choice, message, status",
    [
        ([], "Choisissez au moins une facture à payer.", 422),
        (["J1"], "Cette facture n'est pas sur votre compte.", 404),  # Martin's invoice
        (["I1", "J1"], "Cette facture n'est pas sur votre compte.", 404),
    ],
)
def test_nothing_chosen_or_someone_elses_invoice_opens_nothing(
    app, db, settings, ids, fake_stripe, choice, message, status
):
    client, path, _ = portal(app, settings, ids["FR1"])
    answer = pay_now(client, path, client.get(path).text, "EUR", invoice_ids(db, *choice))
    assert answer.status_code == status and error_text(answer.text) == message
    assert fake_stripe.sessions == {} and checkouts(db) == []


def test_the_number_of_invoices_at_once_is_bounded_before_any_work(app, db, settings, ids, fake_stripe):
    client, path, _ = portal(app, settings, ids["FR1"])
    page = client.get(path).text
    answer = pay_now(client, path, page, "EUR", list(range(1, 42)))
    assert answer.status_code == 422 and error_text(answer.text) == "Choisissez au plus 40 factures à la fois."
    answer = pay_now(client, path, page, "EUR", list(range(1, 501)))  # refused while the form is read
    assert answer.status_code == 422 and "invoice_id" in answer.text
    answer = pay_now(client, path, page, "EUR", list(range(1, 5001)))  # more fields than any form of ours has
    assert answer.status_code == 400
    assert fake_stripe.sessions == {}


def test_a_disputed_invoice_cannot_be_paid_online(app, db, clock, settings, ids, fake_stripe):
    [i1, i2] = invoice_ids(db, "I1", "I2")
    with db.session() as session:
        disputes.open_dispute(
            session,
            clock,
            settings,
            invoice=session.get(Invoice, i1),
            reason_code="wrong_amount",
            text=None,
            source="api",
            actor="test",
        )
    client, path, _ = portal(app, settings, ids["FR1"])
    page = client.get(path).text
    assert [int(i) for i in CHECKED.findall(page)] == [i2]  # neither offered nor chosen
    answer = pay_now(client, path, page, "EUR", [i1, i2])  # a form forged with it anyway
    assert answer.status_code == 422
    assert (
        error_text(answer.text) == "Une facture contestée ne peut pas être payée en ligne pendant que nous l'examinons."
    )
    assert fake_stripe.sessions == {}


def test_an_invoice_paid_since_the_page_was_shown_is_not_charged_again(app, db, settings, ids, fake_stripe):
    client, path, _ = portal(app, settings, ids["FR1"])
    page = client.get(path).text
    with db.session() as session:
        paid = session.execute(select(Invoice).where(Invoice.external_id == "I1")).scalar_one()
        paid.balance_minor, paid.reported_balance_minor = 0, 0
    answer = pay_now(client, path, page, "EUR")
    assert answer.status_code == 422 and "Il ne reste rien à payer" in error_text(answer.text)
    assert fake_stripe.sessions == {}


def test_stripe_refusing_or_unreachable_is_said_and_nothing_is_kept(app, db, settings, ids, fake_stripe):
    client, path, _ = portal(app, settings, ids["FR1"])
    page = client.get(path).text
    fake_stripe.fail_next(400, "invalid_request_error", "Your account cannot currently make live charges.")
    answer = pay_now(client, path, page, "EUR")
    assert answer.status_code == 503
    assert error_text(answer.text) == "Le paiement en ligne est indisponible pour le moment. Réessayez plus tard."
    assert checkouts(db) == []
    down = settings.model_copy(update={"stripe_api_base": "http://127.0.0.1:9", "http_timeout_seconds": 2})
    app.state.settings = down
    answer = pay_now(client, path, client.get(path).text, "EUR")
    assert answer.status_code == 503 and checkouts(db) == []


def test_a_currency_stripe_counts_differently_is_not_offered_online(app, db, clock, settings, fake_stripe):
    ids = seed(
        db,
        clock,
        [customer("HU1", country="HU", language="en", timezone="Europe/Budapest", phone=None)],
        [invoice("H1", "HU1", due=date(2026, 2, 1), total="10000.00", currency="HUF")],
    )
    client, path, _ = portal(app, settings, ids["HU1"])
    page = client.get(path).text
    answer = pay_now(client, path, page, "HUF", invoice_ids(db, "H1"))
    assert answer.status_code == 422
    assert error_text(answer.text) == "This currency cannot be paid online; please pay by bank transfer."
    assert fake_stripe.sessions == {}


def test_returning_from_stripe_lands_on_the_portal_with_a_fresh_link(app, db, clock, settings, ids, fake_stripe):
    client, path, _ = portal(app, settings, ids["FR1"])
    pay_now(client, path, client.get(path).text, "EUR")
    [opened] = fake_stripe.sessions.values()
    browser = TestClient(app, raise_server_exceptions=False)  # Stripe's redirect: no cookie, no referrer
    for url, done in (
        (opened.form["success_url"], "Merci pour votre paiement"),
        (opened.form["cancel_url"], "Le paiement a été annulé"),
    ):
        back = browser.get(urlsplit(url).path, follow_redirects=False)
        assert back.status_code == 303 and back.headers["location"].startswith("/portal/")
        assert done in browser.get(back.headers["location"]).text
    assert browser.get("/portal/dunning-checkout-0000/paid").status_code == 403  # no such checkout
    app.state.clock = FrozenClock(clock.now() + timedelta(days=3))  # the return addresses have expired
    assert TestClient(app).get(urlsplit(opened.form["success_url"]).path, follow_redirects=False).status_code == 403


def test_a_payment_the_bank_is_still_confirming_is_shown_and_not_offered_again(
    app, db, clock, settings, ids, fake_stripe
):
    client, path, _ = portal(app, settings, ids["FR1"])
    pay_now(client, path, client.get(path).text, "EUR")
    with db.session() as session:
        session.execute(Checkout.__table__.update().values(status=PROCESSING))
    page = client.get(path).text
    assert "Un paiement de 300,00\u00a0€ est en cours de confirmation par votre banque." in page
    offered = re.findall(r'name="invoice_id" value="(\d+)"', page)
    assert [int(i) for i in offered] == [int(i) for i in CHECKED.findall(page)] == invoice_ids(db, "I3")


def test_without_a_stripe_key_the_portal_shows_the_static_payment_link(app, db, settings, ids):
    app.state.settings = settings.model_copy(
        update={"stripe_secret_key": None, "payment_url": "https://pay.example.com/acme"}
    )
    client, path, _ = portal(app, app.state.settings, ids["FR1"])
    page = client.get(path).text
    assert 'href="https://pay.example.com/acme"' in page and '/pay"' not in page
    assert pay_now(client, path, page, "EUR", []).status_code == 404  # a valid form, and nothing to post it to
