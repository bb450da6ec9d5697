"""Stripe's webhook: signed events become ledger payments, once per PaymentIntent, allocated to
the invoices chosen; refunds take them back; the accounting system's copy is never counted twice."""

from __future__ import annotations

import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import date

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from dunning.app import create_app
from dunning.audit import AuditEvent
from dunning.cases.models import CLOSED, Case
from dunning.events.models import EventRecord
from dunning.ledger import service as ledger_service
from dunning.ledger.batch import Batch
from dunning.ledger.models import Invoice
from dunning.ledger.schemas import PaymentIn
from dunning.outbox.models import Message
from tests.builders import customer, invoice, payment
from tests.fakes.stripe_api import charge_refunded, event, signature
from tests.outbox.support import REMINDER_THEN_REGISTERED, cycle, seed, tasks, use_policy
from tests.payments.support import WEBHOOK_SECRET, allocations, balances, checkouts, deliver, pay_now, payments
from tests.server import serving
from tests.web.support import portal


@pytest.fixture
def ids(db, clock, settings):
    """Dupont owes I1 (100 €, due 1 Feb), I2 (200 €, due 10 Feb) and I3 (300 €, due in April); the
    cycle opened the case."""
    use_policy(db, clock, REMINDER_THEN_REGISTERED)
    found = seed(
        db,
        clock,
        [customer("FR1", name="Dupont SARL")],
        [
            invoice("I1", "FR1", due=date(2026, 2, 1), total="100.00"),
            invoice("I2", "FR1", due=date(2026, 2, 10), total="200.00"),
            invoice("I3", "FR1", due=date(2026, 4, 1), total="300.00"),
        ],
    )
    cycle(db, clock, settings)
    return found


@pytest.fixture
def web(app) -> TestClient:
    return TestClient(app, raise_server_exceptions=False)


def open_checkout(app, settings, customer_id: int, choice: list[int] | None = None) -> str:
    """Pay now on the portal; the Checkout Session's id."""
    client, path, _ = portal(app, settings, customer_id)
    answer = pay_now(client, path, client.get(path).text, "EUR", choice)
    assert answer.status_code == 303, answer.text
    return answer.headers["location"].rsplit("/", 1)[1]


def invoice_id(db, external_id: str) -> int:
    with db.session() as session:
        return session.execute(select(Invoice.id).where(Invoice.external_id == external_id)).scalar_one()


def case_state(db, customer_id: int) -> str:
    with db.session() as session:
        return session.execute(select(Case.state).where(Case.customer_id == customer_id)).scalar_one()


def now(clock) -> int:
    return int(clock.now().timestamp())


# --- who may post -------------------------------------------------------------------------------


def test_an_event_stripe_did_not_sign_for_us_is_refused_and_stores_nothing(
    app, db, clock, settings, ids, web, fake_stripe
):
    session_id = open_checkout(app, settings, ids["FR1"])
    good = fake_stripe.completed(session_id, created=now(clock))
    body = json.dumps(good).encode()
    refusals = [
        deliver(web, good, "whsec_someone_else"),  # another endpoint's secret
        deliver(web, good, timestamp=int(time.time()) - 600),  # captured ten minutes ago and replayed
        web.post("/v1/inbound/stripe", content=body),  # no signature at all
        web.post(
            "/v1/inbound/stripe",
            content=body.replace(b"30000", b"99999"),  # the body changed after signing
            headers={"Stripe-Signature": signature(body, WEBHOOK_SECRET)},
        ),
        web.post("/v1/inbound/stripe", content=body, headers={"Stripe-Signature": "t=oops,v1="}),
    ]
    assert [r.status_code for r in refusals] == [400] * 5
    assert payments(db) == [] and checkouts(db)[0].status == "open"
    with db.session() as session:
        assert session.execute(select(AuditEvent).where(AuditEvent.action == "payment.received")).first() is None


def test_without_a_signing_secret_the_webhook_is_closed(app, clock, settings, ids, web, fake_stripe):
    app.state.settings = settings.model_copy(update={"stripe_webhook_secret": None})
    answer = deliver(web, event("payment_intent.succeeded", {"id": "pi_1"}))
    assert answer.status_code == 403 and "DUNNING_STRIPE_WEBHOOK_SECRET" in answer.json()["message"]


# --- payments -----------------------------------------------------------------------------------


def test_a_completed_checkout_is_one_payment_on_the_invoices_chosen_however_often_it_arrives(
    app, db, clock, settings, ids, web, fake_stripe
):
    i3, i1 = invoice_id(db, "I3"), invoice_id(db, "I1")
    session_id = open_checkout(app, settings, ids["FR1"], [i3, i1])  # I1 and I3, skipping the older I2
    completed = fake_stripe.completed(session_id, payment_intent="pi_3Mtw", created=now(clock))
    assert deliver(web, completed).json() == {"received": True, "outcome": "recorded"}
    assert deliver(web, completed).json()["outcome"] == "duplicate"  # Stripe delivers again
    twin = fake_stripe.intent_succeeded(session_id, "pi_3Mtw", created=now(clock))
    assert deliver(web, twin).json()["outcome"] == "duplicate"  # the same money told by the PaymentIntent

    [paid] = payments(db)
    assert (paid.external_id, paid.amount_minor, paid.provider_reference, paid.source) == (
        "stripe:pi_3Mtw",
        40000,
        "pi_3Mtw",
        "stripe",
    )
    assert paid.received_on == date(2026, 3, 2)
    assert allocations(db) == [("stripe:pi_3Mtw", "I1", 10000), ("stripe:pi_3Mtw", "I3", 30000)]
    assert balances(db) == {"I1": 0, "I2": 20000, "I3": 0}
    [row] = checkouts(db)
    assert (row.status, row.provider_reference) == ("paid", "pi_3Mtw")
    with db.session() as session:  # neighbours hear of it once, as of a pushed payment
        [received] = session.execute(select(EventRecord).where(EventRecord.type == "payment.received")).scalars()
    assert {k: received.data[k] for k in ("payment", "customer", "invoice", "amount", "source")} == {
        "payment": "stripe:pi_3Mtw",
        "customer": "FR1",
        "invoice": "I1",
        "amount": "400.00",
        "source": "stripe",
    }


def test_the_payment_intent_alone_is_enough_and_a_payment_not_from_the_portal_is_left_alone(
    app, db, clock, settings, ids, web, fake_stripe
):
    session_id = open_checkout(app, settings, ids["FR1"])
    assert deliver(web, fake_stripe.intent_succeeded(session_id, "pi_A", now(clock))).json()["outcome"] == "recorded"
    assert deliver(web, fake_stripe.completed(session_id, payment_intent="pi_A")).json()["outcome"] == "duplicate"
    foreign = event(
        "payment_intent.succeeded",
        {
            "id": "pi_shop",
            "object": "payment_intent",
            "amount_received": 5000,
            "currency": "eur",
            "metadata": {"order": "W-17"},
        },
    )
    assert deliver(web, foreign).json()["outcome"] == "ignored"
    other = event("customer.created", {"id": "cus_1", "object": "customer"})
    assert deliver(web, other).json()["outcome"] == "ignored"
    assert [p.provider_reference for p in payments(db)] == ["pi_A"]


def test_a_payment_closes_the_case_at_once_and_queues_a_receipt_not_a_reminder(
    app, db, clock, settings, ids, web, fake_stripe
):
    everything = [invoice_id(db, e) for e in ("I1", "I2", "I3")]
    session_id = open_checkout(app, settings, ids["FR1"], everything)
    assert case_state(db, ids["FR1"]) != CLOSED
    deliver(web, fake_stripe.completed(session_id, payment_intent="pi_B", created=now(clock)))
    assert case_state(db, ids["FR1"]) == CLOSED
    with db.session() as session:
        [receipt] = session.execute(select(Message).where(Message.kind == "payment_receipt")).scalars()
    assert (receipt.channel, receipt.status, receipt.case_id) == ("email", "queued", None)
    assert receipt.context["transactional"] is True
    assert receipt.context["extra"] == {
        "paid_minor": 60000,
        "paid_on": "2026-03-02",
        "paid_invoices": ["N-I1", "N-I2", "N-I3"],
        "remaining_minor": 0,
    }


def test_a_debit_the_bank_confirms_later_counts_only_when_it_succeeds(app, db, clock, settings, ids, web, fake_stripe):
    session_id = open_checkout(app, settings, ids["FR1"])
    submitted = fake_stripe.completed(session_id, payment_intent="pi_sepa", payment_status="unpaid")
    assert deliver(web, submitted).json()["outcome"] == "processing"
    assert payments(db) == [] and checkouts(db)[0].status == "processing"
    succeeded = fake_stripe.completed(
        session_id, payment_intent="pi_sepa", created=now(clock), kind="checkout.session.async_payment_succeeded"
    )
    assert deliver(web, succeeded).json()["outcome"] == "recorded"
    assert [p.amount_minor for p in payments(db)] == [30000] and checkouts(db)[0].status == "paid"


def test_a_debit_the_bank_refuses_is_a_task_and_the_reminders_go_on(app, db, clock, settings, ids, web, fake_stripe):
    session_id = open_checkout(app, settings, ids["FR1"])
    deliver(web, fake_stripe.completed(session_id, payment_intent="pi_x", payment_status="unpaid"))
    failed = fake_stripe.completed(
        session_id, payment_intent="pi_x", payment_status="unpaid", kind="checkout.session.async_payment_failed"
    )
    assert deliver(web, failed).json()["outcome"] == "failed"
    assert deliver(web, failed).json()["outcome"] == "failed"  # again: still one task
    [task] = tasks(db, kind="review")
    assert task.title == "Dupont SARL's online payment of €300.00 failed"
    assert payments(db) == [] and checkouts(db)[0].status == "failed"


# --- refunds ------------------------------------------------------------------------------------


def test_a_refund_takes_back_what_stripe_returned_and_the_case_reopens(app, db, clock, settings, ids, web, fake_stripe):
    session_id = open_checkout(app, settings, ids["FR1"])  # I1 and I2: 300 €
    deliver(web, fake_stripe.completed(session_id, payment_intent="pi_R", created=now(clock)))
    partial = charge_refunded("pi_R", captured=30000, refunded=5000)
    assert deliver(web, partial).json()["outcome"] == "refunded"
    assert deliver(web, partial).json()["outcome"] == "duplicate"
    assert [p.amount_minor for p in payments(db)] == [25000]
    assert balances(db)["I1"] == 0 and balances(db)["I2"] == 5000
    assert deliver(web, charge_refunded("pi_R", captured=30000, refunded=30000)).json()["outcome"] == "refunded"
    assert [p.amount_minor for p in payments(db)] == [0] and allocations(db) == []
    assert balances(db) == {"I1": 10000, "I2": 20000, "I3": 30000}
    assert case_state(db, ids["FR1"]) == "active"
    # a late delivery of the success does not bring the refunded money back
    assert deliver(web, fake_stripe.completed(session_id, payment_intent="pi_R")).json()["outcome"] == "duplicate"
    assert [p.amount_minor for p in payments(db)] == [0]


# --- the accounting system's copy ---------------------------------------------------------------


def push(db, clock, *rows: dict) -> None:
    with db.session() as session:
        ledger_service.push_payments(session, clock, Batch.of(PaymentIn, [PaymentIn(**r) for r in rows]), "payment")


def test_the_same_payment_pushed_later_by_the_accounting_system_takes_its_place(
    app, db, clock, settings, ids, web, fake_stripe
):
    session_id = open_checkout(app, settings, ids["FR1"])
    deliver(web, fake_stripe.completed(session_id, payment_intent="pi_P", created=now(clock)))
    before = balances(db)
    push(
        db,
        clock,
        payment(
            "ERP-77", "FR1", "300.00", received_on="2026-03-03", invoice_external_id="I1", provider_reference="pi_P"
        ),
    )
    assert balances(db) == before  # counted once
    assert [(p.external_id, p.source) for p in payments(db)] == [("ERP-77", "push")]
    assert deliver(web, fake_stripe.completed(session_id, payment_intent="pi_P")).json()["outcome"] == "duplicate"
    assert balances(db) == before
    # a refund through Stripe of a payment the accounting system holds is for a person
    assert deliver(web, charge_refunded("pi_P", captured=30000, refunded=30000)).json()["outcome"] == "task"
    assert balances(db) == before and "record the refund there" in tasks(db, kind="review")[-1].detail


def test_pushed_first_the_webhook_records_nothing_more(app, db, clock, settings, ids, web, fake_stripe):
    session_id = open_checkout(app, settings, ids["FR1"])
    push(db, clock, payment("ERP-78", "FR1", "300.00", received_on="2026-03-02", provider_reference="pi_Q"))
    before = balances(db)
    assert (
        deliver(web, fake_stripe.completed(session_id, payment_intent="pi_Q", created=now(clock))).json()["outcome"]
        == "duplicate"
    )
    assert balances(db) == before and [p.external_id for p in payments(db)] == ["ERP-78"]
    assert checkouts(db)[0].status == "paid"


def test_a_push_without_the_reference_is_another_payment(app, db, clock, settings, ids, web, fake_stripe):
    """The rule is the reference: a payment pushed without it is money of its own (README)."""
    session_id = open_checkout(app, settings, ids["FR1"], [invoice_id(db, "I1")])
    deliver(web, fake_stripe.completed(session_id, payment_intent="pi_S", created=now(clock)))
    push(db, clock, payment("ERP-79", "FR1", "100.00", received_on="2026-03-02"))
    assert sorted(p.external_id for p in payments(db)) == ["ERP-79", "stripe:pi_S"]
    assert balances(db) == {"I1": 0, "I2": 10000, "I3": 30000}


# --- at the same moment -------------------------------------------------------------------------


def test_the_session_and_the_intent_arriving_together_make_one_payment(settings, committed_db, clock, fake_stripe):
    app = create_app(settings, database=committed_db, clock=clock, embedded_worker=False)
    use_policy(committed_db, clock, REMINDER_THEN_REGISTERED)
    ids = seed(committed_db, clock, [customer("FR1")], [invoice("I1", "FR1", due=date(2026, 2, 1), total="100.00")])
    session_id = open_checkout(app, settings, ids["FR1"])
    deliveries = [
        fake_stripe.completed(session_id, payment_intent="pi_T", created=now(clock)),
        fake_stripe.intent_succeeded(session_id, "pi_T", now(clock)),
    ] * 2
    barrier = threading.Barrier(len(deliveries))
    with serving(app) as url:

        def send(e: dict) -> str:
            body = json.dumps(e).encode()
            with httpx.Client(base_url=url, timeout=60) as c:
                barrier.wait()
                return c.post(
                    "/v1/inbound/stripe", content=body, headers={"Stripe-Signature": signature(body, WEBHOOK_SECRET)}
                ).json()["outcome"]

        with ThreadPoolExecutor(len(deliveries)) as pool:
            outcomes = sorted(pool.map(send, deliveries))
    assert outcomes == ["duplicate"] * 3 + ["recorded"]
    assert [(p.amount_minor, p.provider_reference) for p in payments(committed_db)] == [(10000, "pi_T")]
    assert balances(committed_db) == {"I1": 0}
