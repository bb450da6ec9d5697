"""Sums that cannot overflow, with the finding's numbers: 9,300 invoices of 9,999,999,999,999.99
for one customer overflowed SQLite's integer SUM (aging, customer and desk pages 500, the cycle
crashed for everyone). One account may no longer owe that much; spread over ten customers, the
same money is summed exactly on both databases."""

from __future__ import annotations

from sqlalchemy import func, select

from dunning.cases.cycle import run_cycle
from dunning.ledger.models import Invoice
from dunning.money import LARGE_MINOR, MAX_ACCOUNT, MAX_MINOR
from dunning.outbox.models import Message
from tests.builders import customer, invoice
from tests.web.support import desk

MOST = "9999999999999.99"  # the largest amount one invoice may carry
MOST_MINOR = 999_999_999_999_999
COUNT = 9_300


def invoices(customer_id: str, count: int, start: int = 0) -> list[dict]:
    return [invoice(f"{customer_id}-{n}", customer_id, total=MOST) for n in range(start, start + count)]


def test_the_bounds_keep_an_account_within_64_bits():
    # an account's large balances are at most MAX_ACCOUNT, each other balance is below LARGE_MINOR:
    # any sum of fewer than 2^31 of them fits a signed 64-bit integer
    assert MAX_MINOR - 1 == MOST_MINOR
    assert MAX_ACCOUNT + (2**31 - 1) * (LARGE_MINOR - 1) < 2**63 - 1


def test_one_customer_cannot_owe_the_findings_sum(client, db):
    client.post("/v1/customers/bulk", json={"customers": [customer("BIG")]})
    r = client.post("/v1/invoices/bulk", json={"invoices": invoices("BIG", COUNT)})
    assert r.status_code == 422, r.text[:300]
    errors = r.json()["errors"]
    assert len(errors) == COUNT and {e["field"] for e in errors} == {"total"}
    assert "would owe more than 10000000000000000.00 EUR in invoices of 10000000.00 or more" in errors[0]["message"]
    with db.session() as s:
        assert s.execute(select(func.count()).select_from(Invoice)).scalar() == 0

    # up to the bound it is taken; the invoice that crosses it is named, in any later batch
    assert client.post("/v1/invoices/bulk", json={"invoices": invoices("BIG", 1_000)}).status_code == 200
    r = client.post(
        "/v1/invoices/bulk",
        json={"invoices": [invoice("small", "BIG", total="9999999.99"), *invoices("BIG", 1, start=1_000)]},
    )
    assert [(e["index"], e["field"]) for e in r.json()["errors"]] == [(1, "total")]
    # a batch that brings the account back under the bound is taken
    paid = [invoice("BIG-0", "BIG", total=MOST, paid_on="2026-02-15"), *invoices("BIG", 1, start=1_000)]
    assert client.post("/v1/invoices/bulk", json={"invoices": paid}).status_code == 200, r.text


def test_the_findings_sum_over_ten_customers_is_exact_everywhere(app, client, db, clock, settings):
    per_customer = COUNT // 10
    ids = [f"C{n}" for n in range(10)]
    client.post("/v1/customers/bulk", json={"customers": [customer(c) for c in ids]})
    for c in ids:
        assert client.post("/v1/invoices/bulk", json={"invoices": invoices(c, per_customer)}).status_code == 200
    expected = COUNT * MOST_MINOR
    assert expected > 2**63  # what SQLite's SUM refused

    aging = client.get("/v1/reports/aging")
    assert aging.status_code == 200, aging.text
    assert aging.json()["rows"][0]["total"] == f"{expected // 100}.{expected % 100:02d}"
    detail = client.get("/v1/customers/C0").json()
    assert (
        detail["balances"][0]["overdue"] == f"{per_customer * MOST_MINOR // 100}.{per_customer * MOST_MINOR % 100:02d}"
    )

    with db.session() as session:
        report = run_cycle(session, clock, settings)
    assert len(report.planned) == 10
    with db.session() as session:
        amounts = set(session.execute(select(Message.amount_minor)).scalars())
    assert amounts == {per_customer * MOST_MINOR}

    browser, _ = desk(app, db, clock, "manager")
    for page in ("/desk", "/desk/customers", "/desk/customers/C0", "/desk/worklist"):
        assert browser.get(page).status_code == 200, page

    # the cash forecast: its weeks, beyond and disputed add up to the sum no 64-bit integer holds
    [eur] = client.get("/v1/reports/cash-forecast").json()["currencies"]
    assert eur["open"] == f"{expected // 100}.{expected % 100:02d}"
    parts = [w["expected"] for w in eur["weeks"]] + [eur["beyond"]["expected"], eur["disputed"]]
    assert sum(int(p.replace(".", "")) for p in parts) == expected
    assert browser.get("/desk/forecast").status_code == 200
