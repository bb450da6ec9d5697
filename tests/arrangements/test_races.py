"""Requests that arrive at the same moment, against a real server and a committed database: the
database keeps one open dispute per invoice, one open promise per account and one opt-out per
channel, and no request gets a 500."""

from __future__ import annotations

import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from sqlalchemy import func, select

from dunning.app import create_app
from dunning.audit import AuditEvent
from dunning.contacts import OptOut
from dunning.ledger.models import Customer, Invoice
from dunning.links import portal_token, unsubscribe_token
from dunning.records.arrangements import Dispute, Promise
from tests.conftest import make_client, new_key
from tests.replies.support import seed
from tests.server import serving
from tests.web.support import form_token

pytestmark = pytest.mark.committed


@pytest.fixture
def served(committed_db, clock, settings):
    """The service under uvicorn with one customer owing two invoices, and an admin key."""
    app = create_app(settings, database=committed_db, clock=clock, embedded_worker=False)
    key = new_key(committed_db, clock, ["admin"])
    with make_client(app, key) as client:
        seed(client, first="email", invoices=2)
    with serving(app) as url:
        yield url, key


def at_once(n: int, request) -> list[httpx.Response]:
    """`request(client, i)` from n clients released together (each prepares first, then waits)."""
    barrier = threading.Barrier(n, timeout=60)

    def one(i: int) -> httpx.Response:
        with httpx.Client(timeout=60) as client:
            return request(client, i, barrier.wait)

    with ThreadPoolExecutor(n) as pool:
        return list(pool.map(one, range(n)))


def count(db, model, *where) -> int:
    with db.session() as session:
        return session.execute(select(func.count()).select_from(model).where(*where)).scalar()


def customer_id(db) -> int:
    with db.session() as session:
        return session.execute(select(Customer.id)).scalar_one()


def test_eight_disputes_at_once_open_one_and_it_resolves(served, committed_db):
    url, key = served
    auth = {"Authorization": f"Bearer {key}"}

    def dispute(client, i, go):
        go()
        return client.post(
            f"{url}/v1/invoices/I1/dispute", headers=auth, json={"reason_code": "not_received", "text": f"attempt {i}"}
        )

    statuses = Counter(r.status_code for r in at_once(8, dispute))
    assert statuses == {201: 1, 409: 7}
    assert count(committed_db, Dispute, Dispute.status == "open") == 1
    with httpx.Client(timeout=60) as client:
        r = client.post(f"{url}/v1/invoices/I1/dispute/resolve", headers=auth, json={"outcome": "rejected"})
        assert r.status_code == 200, r.text
        assert (
            client.post(f"{url}/v1/invoices/I1/dispute/resolve", headers=auth, json={"outcome": "rejected"}).status_code
            == 404
        )


def test_six_promises_at_once_leave_one_open(served, committed_db):
    url, key = served

    def promise(client, i, go):
        go()
        return client.post(
            f"{url}/v1/customers/C1/promises",
            headers={"Authorization": f"Bearer {key}"},
            json={"currency": "EUR", "amount": "100.00", "date": f"2026-03-{10 + i}"},
        )

    responses = at_once(6, promise)
    assert all(r.status_code in (201, 409) for r in responses), [r.text for r in responses]
    assert count(committed_db, Promise, Promise.status == "open") == 1
    created = sum(r.status_code == 201 for r in responses)
    assert count(committed_db, Promise, Promise.status == "cancelled") == created - 1  # each replaced the one before


def test_six_unsubscribes_at_once_make_one_opt_out(served, committed_db, settings, clock):
    url, _ = served
    token = unsubscribe_token(settings, customer_id(committed_db), "email", clock)

    def unsubscribe(client, i, go):
        go()
        return client.post(f"{url}/unsubscribe/{token}")

    assert [r.status_code for r in at_once(6, unsubscribe)] == [200] * 6
    assert count(committed_db, OptOut) == 1
    assert count(committed_db, AuditEvent, AuditEvent.action == "contact.opt_out") == 1


@pytest.mark.parametrize(
    "form, data",
    [
        ("dispute", {"reason": "not_received", "text": "jamais reçu"}),
        ("promise", {"currency": "EUR", "promised_on": "2026-03-20"}),
    ],
)
def test_a_double_submit_on_the_portal_gives_the_one_on_record(served, committed_db, settings, clock, form, data):
    url, _ = served
    path = f"{url}/portal/{portal_token(settings, customer_id(committed_db), clock)}"
    if form == "dispute":
        with committed_db.session() as session:
            data = {
                **data,
                "invoice_id": str(session.execute(select(Invoice.id).where(Invoice.external_id == "I1")).scalar_one()),
            }

    def submit(client, i, go):
        token = form_token(client.get(path).text)
        go()
        return client.post(f"{path}/{form}", data={**data, "csrf_token": token})

    responses = at_once(2, submit)
    assert [r.status_code for r in responses] == [303, 303], [r.text for r in responses]
    assert all(f"done={form}" in r.headers["location"] for r in responses)
    model = Dispute if form == "dispute" else Promise
    assert count(committed_db, model) == 1 and count(committed_db, model, model.status == "open") == 1
