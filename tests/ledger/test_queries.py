from __future__ import annotations

from datetime import date

from tests.builders import customer, invoice


def seed(client):
    client.post("/v1/customers/bulk", json={"customers": [customer(f"C{i}") for i in range(5)]})
    # the clock says 2026-03-02
    r = client.post(
        "/v1/invoices/bulk",
        json={
            "invoices": [
                invoice("future", "C1", due=date(2026, 3, 10), total="10.00"),
                invoice("d5", "C1", due=date(2026, 2, 25), total="20.00"),
                invoice("d40", "C1", due=date(2026, 1, 21), total="30.00", balance="25.00"),
                invoice("d70", "C1", due=date(2025, 12, 22), total="40.00"),
                invoice("d200", "C1", due=date(2025, 8, 14), total="50.00"),
                invoice("paid", "C1", due=date(2026, 1, 5), total="60.00", paid_on="2026-01-04"),
                invoice("usd", "C2", due=date(2026, 2, 1), total="70.00", currency="USD"),
            ]
        },
    )
    assert r.status_code == 200, r.text


def test_customer_detail_has_balances_per_currency(client):
    seed(client)
    detail = client.get("/v1/customers/C1").json()
    assert detail["balances"] == [
        {"currency": "EUR", "open": "145.00", "overdue": "135.00", "oldest_overdue_due_on": "2025-08-14"}
    ]
    assert client.get("/v1/customers/nobody").status_code == 404


def test_customers_page_with_a_cursor(client):
    seed(client)
    seen, cursor = [], None
    while True:
        page = client.get("/v1/customers", params={"limit": 2, **({"cursor": cursor} if cursor else {})}).json()
        seen += [c["external_id"] for c in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert seen == [f"C{i}" for i in range(5)]
    assert client.get("/v1/customers", params={"cursor": "%%%"}).status_code == 422


def test_invoice_filters(client):
    seed(client)

    def ids(**p):
        return [i["external_id"] for i in client.get("/v1/invoices", params=p).json()["items"]]

    assert ids(customer="C1", status="closed") == ["paid"]
    assert ids(customer="C1", overdue="true") == ["d5", "d40", "d70", "d200"]
    assert ids(customer="C2") == ["usd"]
    assert sorted(ids(status="open")) == sorted(["future", "d5", "d40", "d70", "d200", "usd"])
    d200 = client.get("/v1/invoices", params={"customer": "C1", "overdue": "true"}).json()["items"][-1]
    assert d200["days_overdue"] == (date(2026, 3, 2) - date(2025, 8, 14)).days


def test_aging_buckets(client):
    seed(client)
    rows = {r["currency"]: r for r in client.get("/v1/reports/aging").json()["rows"]}
    assert rows["EUR"] == {
        "currency": "EUR",
        "not_due": "10.00",
        "d1_30": "20.00",
        "d31_60": "25.00",
        "d61_90": "40.00",
        "over_90": "50.00",
        "total": "145.00",
    }
    assert rows["USD"]["d1_30"] == "70.00"
    later = {r["currency"]: r for r in client.get("/v1/reports/aging", params={"as_of": "2026-04-15"}).json()["rows"]}
    assert later["EUR"]["d31_60"] == "30.00"  # future (36 days) + d5 (49 days)
