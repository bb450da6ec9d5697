"""The customer portal: what it shows, what the customer can do, and what it refuses."""

from __future__ import annotations

import re
from datetime import date, timedelta
from html import unescape

import pytest
from fastapi.testclient import TestClient
from itsdangerous import URLSafeTimedSerializer
from sqlalchemy import select

from dunning.audit import AuditEvent
from dunning.cases.models import Case
from dunning.clock import FrozenClock
from dunning.contacts import OptOut
from dunning.ledger.models import Customer, Invoice
from dunning.links import portal_token
from dunning.records.arrangements import Dispute, InstallmentPlan, Promise
from tests.builders import customer, invoice
from tests.outbox.support import cycle, dispatch, seed, tasks, use_policy
from tests.web.support import form_token, portal

POLICY = """
name: default
bands: [{name: only}]
paths:
  only:
    steps:
      - {key: notice, after_days: 1, kind: formal_notice, channels: [email], fees: true}
      - {key: r2, after_days: 20, kind: reminder, channels: [email]}
contact: {business_days_only: false, min_days_between_contacts: 1}
plans: {max_installments: 3, min_installment_amount: {EUR: "50.00"}, max_months: 3}
"""


@pytest.fixture
def ids(db, clock, settings):
    """Dupont (French, business) was sent a formal notice claiming fees; Martin is another customer."""
    use_policy(db, clock, POLICY)
    found = seed(
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
    cycle(db, clock, settings)
    dispatch(db, clock, settings)
    return found


@pytest.fixture
def settings(settings):
    return settings.model_copy(update={"payment_url": "https://pay.example.com/acme"})


def invoice_id(db, external_id: str) -> int:
    with db.session() as session:
        return session.execute(select(Invoice.id).where(Invoice.external_id == external_id)).scalar_one()


def test_the_statement_in_the_customers_language_with_fees_and_total(app, settings, ids):
    client, path, _ = portal(app, settings, ids["FR1"])
    page = client.get(path).text
    assert '<html lang="fr">' in page and "Factures ouvertes en EUR" in page
    for number in ("N-I1", "N-I2", "N-I3"):
        assert f'data-invoice="{number}"' in page
    assert "J1" not in page and "Martin" not in page  # only this customer's data
    assert "1 févr. 2026" in page  # babel's French dates
    # the notice claimed fees, so the portal shows them: 40 € per late invoice (France), and interest
    # at the ECB rate + 10 points: 100 € x 12.15 % x 29/365 = 0.97 €, 200 € x 12.15 % x 20/365 = 1.33 €
    assert "Indemnité forfaitaire pour frais de recouvrement, facture N-I1" in page
    assert "Pénalités de retard, facture N-I2" in page
    assert "682,30\u00a0€" in page  # 600 € open + 80 € + 2.30 €
    assert "dont échu 300,00\u00a0€" in page
    assert 'href="https://pay.example.com/acme"' in page and "Payer maintenant" in page


def test_no_fees_before_a_notice_claimed_them(app, db, clock, settings, ids):
    ids = seed(db, clock, [customer("FR3", name="Neuf SARL")], [invoice("K1", "FR3", due=date(2026, 2, 1))])
    client, path, _ = portal(app, settings, ids["FR3"])
    page = client.get(path).text
    assert "N-K1" in page and "Frais de retard" not in page and "Indemnité" not in page
    assert "100,00\u00a0€" in page


def test_a_promise_pauses_the_case(app, db, clock, settings, ids):
    client, path, token = portal(app, settings, ids["FR1"])
    day = (clock.now() + timedelta(days=6)).date().isoformat()
    r = client.post(
        f"{path}/promise", data={"currency": "EUR", "promised_on": day, "csrf_token": token}, follow_redirects=False
    )
    assert r.status_code == 303 and r.headers["location"] == f"{path}?done=promise#promise-EUR"
    page = client.get(r.headers["location"]).text
    assert "votre promesse est enregistrée" in page and "Vous avez promis de payer" in page
    with db.session() as session:
        promise = session.execute(select(Promise)).scalar_one()
        case = session.execute(select(Case).where(Case.customer_id == ids["FR1"])).scalar_one()
    assert (promise.source, promise.created_by) == ("portal", "customer:FR1")
    assert case.state == "paused" and case.pause_reason == "promise"
    past = client.post(f"{path}/promise", data={"currency": "EUR", "promised_on": "2026-01-01", "csrf_token": token})
    assert past.status_code == 422 and "Choisissez une date à partir d'aujourd'hui." in unescape(past.text)


def test_a_plan_within_the_policy_is_granted_at_once(app, db, clock, settings, ids):
    client, path, token = portal(app, settings, ids["FR1"])
    first = (clock.now() + timedelta(days=7)).date()
    r = client.post(
        f"{path}/plan", data={"currency": "EUR", "count": "3", "first_due": first.isoformat(), "csrf_token": token}
    )
    assert "Votre échéancier est en place" in r.text
    with db.session() as session:
        plan = session.execute(select(InstallmentPlan)).scalar_one()
        case = session.execute(select(Case).where(Case.customer_id == ids["FR1"])).scalar_one()
    assert (plan.total_minor, plan.source, plan.status) == (60_000, "portal", "active")
    assert case.pause_reason == "plan"
    assert 'id="plan-active-EUR"' in r.text and "3 mensualités" in r.text


def test_a_plan_outside_the_policy_goes_to_the_team(app, db, clock, settings, ids):
    client, path, token = portal(app, settings, ids["FR1"])
    page = client.get(path).text
    assert "6 mensualités (étudié par notre équipe)" in page  # the policy grants 3 at most
    first = (clock.now() + timedelta(days=7)).date().isoformat()
    r = client.post(f"{path}/plan", data={"currency": "EUR", "count": "6", "first_due": first, "csrf_token": token})
    assert "notre équipe va étudier votre demande" in r.text
    with db.session() as session:
        assert session.execute(select(InstallmentPlan)).first() is None
    [task] = tasks(db, kind="review", customer_id=ids["FR1"])
    assert "asks for 6 monthly payments" in task.title


def test_a_dispute_on_the_customers_own_invoice_only(app, db, settings, ids):
    client, path, token = portal(app, settings, ids["FR1"])
    r = client.post(
        f"{path}/dispute",
        data={
            "invoice_id": invoice_id(db, "I2"),
            "reason": "wrong_amount",
            "text": "Le prix convenu était 150 €",
            "csrf_token": token,
        },
    )
    assert "Votre contestation est enregistrée" in r.text and "contestée" in r.text
    with db.session() as session:
        dispute = session.execute(select(Dispute)).scalar_one()
    assert (dispute.source, dispute.reason_code, dispute.text) == (
        "portal",
        "wrong_amount",
        "Le prix convenu était 150 €",
    )
    assert tasks(db, kind="dispute")

    # Martin's invoice id in Dupont's form: refused, and the page says nothing about Martin's invoice
    r = client.post(
        f"{path}/dispute", data={"invoice_id": invoice_id(db, "J1"), "reason": "other", "csrf_token": token}
    )
    assert r.status_code == 404 and "Cette facture n'est pas sur votre compte." in unescape(r.text)
    shown = re.sub(r'"[^"]*"', '""', r.text)  # attribute values hold random tokens, which may spell anything
    assert "J1" not in shown and "999" not in shown
    with db.session() as session:
        assert len(session.execute(select(Dispute)).all()) == 1


def test_contact_details_and_channels(app, db, clock, settings, ids):
    client, path, token = portal(app, settings, ids["FR1"])
    r = client.post(
        f"{path}/contact", data={"email": "compta@dupont.example", "phone": "06 11 22 33 44", "csrf_token": token}
    )
    assert "Vos coordonnées sont à jour." in r.text
    with db.session() as session:
        row = session.get(Customer, ids["FR1"])
        assert (row.email, row.phone) == ("compta@dupont.example", "+33611223344")
        assert session.execute(select(AuditEvent).where(AuditEvent.action == "contact.updated")).first()
    assert "accounting system" in tasks(db, kind="review")[0].detail  # the team carries it over
    # the link that went to the old address no longer works; the customer goes on with a new one
    assert client.get(path).status_code == 403
    path = r.url.path
    bad = client.post(f"{path}/contact", data={"email": "not an address", "csrf_token": token})
    assert bad.status_code == 422 and "Cette adresse e-mail n'est pas valide." in unescape(bad.text)

    r = client.post(f"{path}/channels", data={"channel": "sms", "wanted": "false", "csrf_token": token})
    assert "Vous avez demandé à ne plus être relancé par SMS." in r.text
    with db.session() as session:
        assert session.execute(select(OptOut.source).where(OptOut.customer_id == ids["FR1"])).scalar_one() == "portal"
    client.post(f"{path}/channels", data={"channel": "sms", "wanted": "true", "csrf_token": token})
    with db.session() as session:
        assert session.execute(select(OptOut)).first() is None
    r = client.post(f"{path}/channels", data={"channel": "letter", "wanted": "false", "csrf_token": token})
    assert r.status_code == 422  # formal notices by post stay


def expired_token(settings, customer_id: int, clock) -> str:
    """Signed on the service's clock 31 days ago: one day past the link's life."""
    return portal_token(settings, customer_id, FrozenClock(clock.now() - timedelta(days=31)))


def test_tampered_expired_and_unknown_links_are_refused_plainly(app, db, settings, ids, clock):
    client = TestClient(app, raise_server_exceptions=False)
    good = portal_token(settings, ids["FR1"], clock)
    tampered = good[:-2] + ("AA" if not good.endswith("AA") else "BB")
    forged = URLSafeTimedSerializer("not the secret", salt="dunning.portal").dumps({"c": ids["FR1"]})
    unknown = portal_token(settings, 987_654, clock)
    for token, why in [
        (tampered, "not valid"),
        (forged, "not valid"),
        (expired_token(settings, ids["FR1"], clock), "expired"),
        (unknown, "not valid"),
        ("garbage", "not valid"),
    ]:
        for r in (
            client.get(f"/portal/{token}"),
            client.post(f"/portal/{token}/promise", data={"currency": "EUR", "promised_on": "2026-03-10"}),
        ):
            assert r.status_code == 403 and why in r.text, (token, r.text[:200])
            assert "Dupont" not in r.text and "N-I1" not in r.text and "csrf_token" not in r.text
    with db.session() as session:
        assert session.execute(select(Promise)).first() is None


def test_a_link_opens_only_its_own_customer(app, settings, ids):
    client, path, token = portal(app, settings, ids["FR2"])
    page = client.get(path).text
    assert "Martin SA" in page and "N-J1" in page and "Dupont" not in page and "N-I1" not in page
    assert form_token(page) == token
