"""Stripe in the tests: the fake's keys, a signed delivery of an event, the ledger as it stands."""

from __future__ import annotations

import json
import re
from html import unescape

from fastapi.testclient import TestClient
from sqlalchemy import select

from dunning.ledger.models import Allocation, Invoice, Payment
from dunning.payments.models import Checkout
from tests.fakes.stripe_api import signature

SECRET_KEY = "sk_test_4eC39HqLyjWDarjtT1zdp7dc"
WEBHOOK_SECRET = "whsec_test_secret_for_the_fake"
CHECKED = re.compile(r'name="invoice_id" value="(\d+)" checked')


def deliver(client: TestClient, event: dict, secret: str = WEBHOOK_SECRET, *, timestamp: int | None = None):
    """POST the event to the webhook as Stripe does: the JSON body and its Stripe-Signature."""
    body = json.dumps(event).encode()
    return client.post(
        "/v1/inbound/stripe",
        content=body,
        headers={"Content-Type": "application/json", "Stripe-Signature": signature(body, secret, timestamp)},
    )


def pay_now(client: TestClient, path: str, page: str, currency: str, invoice_ids: list[int] | None = None):
    """Submit the portal's Pay now form: the invoices given, or those it checks by default."""
    chosen = invoice_ids if invoice_ids is not None else [int(i) for i in CHECKED.findall(page)]
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    return client.post(
        f"{path}/pay", data={"csrf_token": token, "currency": currency, "invoice_id": chosen}, follow_redirects=False
    )


def payments(db) -> list[Payment]:
    with db.session() as session:
        return list(session.execute(select(Payment).order_by(Payment.id)).scalars())


def balances(db) -> dict[str, int]:
    with db.session() as session:
        return dict(session.execute(select(Invoice.external_id, Invoice.balance_minor)).all())


def allocations(db) -> list[tuple[str, str, int]]:
    with db.session() as session:
        return [
            tuple(r)
            for r in session.execute(
                select(Payment.external_id, Invoice.external_id, Allocation.amount_minor)
                .join(Payment, Payment.id == Allocation.payment_id)
                .join(Invoice, Invoice.id == Allocation.invoice_id)
                .order_by(Allocation.id)
            )
        ]


def checkouts(db) -> list[Checkout]:
    with db.session() as session:
        return list(session.execute(select(Checkout).order_by(Checkout.id)).scalars())


def error_text(html: str) -> str:
    found = re.search(r'<div class="flash error">([^<]*)</div>', html)
    return unescape(found.group(1)) if found else ""
