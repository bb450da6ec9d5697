"""KPI arithmetic on hand-checked numbers, then the overview's figures from a small ledger."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from dunning.cases.models import Case
from dunning.ledger import service as ledger_service
from dunning.ledger.batch import Batch
from dunning.ledger.schemas import PaymentIn
from dunning.outbox.models import Message
from dunning.records.arrangements import Promise
from dunning.web import kpis
from dunning.web.desk import figures
from tests.builders import customer, invoice, payment
from tests.outbox.support import seed


def test_dso_countback_walks_back_through_the_sales():
    # 150 receivable: this month's 100 of sales cover 10 days, 50 more is a quarter of last month's 200
    assert kpis.dso_countback(150, [(10, 100), (28, 200)]) == kpis.Dso(10 + 28 * 50 / 200)
    assert kpis.dso_countback(50, [(10, 100)]) == kpis.Dso(5.0)
    # a month without sales adds all its days
    assert kpis.dso_countback(300, [(10, 100), (31, 0), (30, 400)]) == kpis.Dso(10 + 31 + 30 * 200 / 400)


def test_dso_edges():
    assert kpis.dso_countback(0, [(10, 100)]) == kpis.Dso(0.0)
    assert kpis.dso_countback(100, [(10, 0), (31, 0)]) == kpis.Dso(None)
    assert kpis.dso_countback(1000, [(10, 100), (31, 200)]) == kpis.Dso(41.0, capped=True)


def test_cei():
    # (1000 + 500 - 600) / (1000 + 500 - 400) = 900 / 1100
    assert kpis.cei(opening=1000, sales=500, closing=600, closing_current=400) == pytest.approx(81.8181818)
    assert kpis.cei(opening=1000, sales=0, closing=0, closing_current=0) == 100.0
    assert kpis.cei(opening=0, sales=0, closing=0, closing_current=0) is None


def test_kept_rate():
    assert kpis.kept_rate(3, 1) == 75.0
    assert kpis.kept_rate(0, 0) is None


def test_month_periods_are_the_month_to_date_then_whole_months():
    periods = kpis.month_periods(date(2026, 3, 2), 3)
    assert [(p.start, p.end, p.days) for p in periods] == [
        (date(2026, 3, 1), date(2026, 3, 2), 2),
        (date(2026, 2, 1), date(2026, 2, 28), 28),
        (date(2026, 1, 1), date(2026, 1, 31), 31),
    ]


def test_bars_scale_to_the_largest_and_never_hide_money():
    bars = {b.key: b for b in kpis.bars({"d1_30": 100, "d31_60": 50, "over_90": 1}, width=360, height=160, gap=12)}
    assert bars["d1_30"].height == 160 and bars["d1_30"].y == 0
    assert bars["d31_60"].height == 80 and bars["d31_60"].y == 80
    assert bars["over_90"].height == 2  # 1/100 of the tallest would be invisible
    assert bars["not_due"].height == 0 and bars["d61_90"].height == 0
    assert bars["not_due"].width == pytest.approx((360 - 12 * 6) / 5)
    assert bars["d1_30"].x == pytest.approx(12 + bars["not_due"].width + 12)


def test_overview_figures_from_a_small_ledger(db, clock):
    """today 2 March 2026; the CEI window opens at the end of 31 January.

    A 400 issued Dec, paid 10 Feb   -> open at the start, closed now
    B 1000 issued Jan, 300 paid 15 Feb -> 1000 then 700 (overdue 21 days)
    C 600 issued 20 Feb, due 22 Mar -> a sale of the window, current now
    D 200 reported paid 15 Dec      -> nothing at either end
    E 250 reported paid 5 Feb       -> open at the start (no payment of ours: its paid_on dates it)
    """
    ids = seed(
        db,
        clock,
        [customer("K1")],
        [
            invoice("A", "K1", total="400.00", issued_on="2025-12-01", due=date(2025, 12, 31)),
            invoice("B", "K1", total="1000.00", issued_on="2026-01-10", due=date(2026, 2, 9)),
            invoice("C", "K1", total="600.00", issued_on="2026-02-20", due=date(2026, 3, 22)),
            invoice("D", "K1", total="200.00", issued_on="2025-11-01", due=date(2025, 12, 1), paid_on="2025-12-15"),
            invoice("E", "K1", total="250.00", issued_on="2025-10-01", due=date(2025, 10, 31), paid_on="2026-02-05"),
        ],
    )
    now = clock.now()
    with db.session() as session:
        ledger_service.push_payments(
            session,
            clock,
            Batch.of(
                PaymentIn,
                [
                    PaymentIn(**payment("PA", "K1", "400.00", invoice_external_id="A", received_on="2026-02-10")),
                    PaymentIn(**payment("PB", "K1", "300.00", invoice_external_id="B", received_on="2026-02-15")),
                ],
            ),
            "payment",
        )
        for status in ("kept", "kept", "kept", "broken", "open"):
            session.add(
                Promise(
                    customer_id=ids["K1"],
                    currency="EUR",
                    amount_minor=100,
                    promised_on=date(2026, 2, 1),
                    grace_until=date(2026, 2, 3),
                    status=status,
                    source="api",
                    counted_from=date(2026, 1, 20),
                    created_by="t",
                    created_at=now - timedelta(days=40),
                    settled_at=None if status == "open" else now - timedelta(days=20),
                )
            )
        for i, channel in enumerate(("email", "email", "sms")):
            session.add(
                Message(
                    dedupe_key=f"m{i}",
                    customer_id=ids["K1"],
                    channel=channel,
                    kind="reminder",
                    template="reminder",
                    status="sent",
                    send_after=now - timedelta(days=3),
                    sent_at=now - timedelta(days=3),
                    created_at=now,
                    updated_at=now,
                )
            )
        session.add(
            Case(
                customer_id=ids["K1"],
                currency="EUR",
                state="paused",
                opened_at=now,
                policy_name="default",
                band="high",
                path_name="high",
                updated_at=now,
            )
        )

    with db.session() as session:
        o = figures.load(session, clock)
    [eur] = o.currencies
    assert eur.cei_inputs == {"opening": 165_000, "sales": 60_000, "closing": 130_000, "closing_current": 60_000}
    assert eur.cei == pytest.approx(100 * 95_000 / 165_000)  # 57.6 %
    # 1300 receivable: March to date sold nothing (2 days), February 600 (28 days), January 1000 covers the
    # remaining 700 in 70 % of its 31 days
    assert eur.dso.days == pytest.approx(2 + 28 + 31 * 0.7)
    assert eur.receivables == 130_000 and eur.overdue == 70_000
    # A's and B's payments, and E settled by its paid_on without one; A, marked paid by its payment, once
    assert eur.collected_30d == 40_000 + 30_000 + 25_000
    assert eur.aging == {"not_due": 60_000, "d1_30": 70_000, "d31_60": 0, "d61_90": 0, "over_90": 0}
    assert (o.promises_kept, o.promises_broken, o.kept_rate) == (3, 1, 75.0)
    assert o.messages_30d == {"email": 2, "sms": 1}
    assert o.cases == [("high", "high", {"paused": 1})]


def test_receivables_on_a_past_day_match_today_at_today(db, clock):
    seed(
        db,
        clock,
        [customer("K2")],
        [
            invoice("F", "K2", total="80.00", issued_on="2026-02-01", due=date(2026, 2, 10)),
            invoice("G", "K2", total="20.00", issued_on="2026-02-02", due=date(2026, 2, 12), balance="5.00"),
        ],
    )
    with db.session() as session:
        assert figures.receivables_on(session, clock.now().date()) == {"EUR": 8_500}
        # G's 15 taken off without a payment was learnt today: it was still open yesterday
        assert figures.receivables_on(session, date(2026, 3, 1)) == {"EUR": 10_000}
        assert figures.receivables_on(session, date(2026, 1, 31)) == {}


def test_cash_collected_counts_invoices_marked_paid_without_a_payment_once(db, clock):
    """Ledgers that push paid invoices (paid_on) and no payments: what they settled is cash in,
    in its own currency; what a payment of ours settled is counted once, as the payment."""
    seed(
        db,
        clock,
        [customer("K3")],
        [
            invoice("U1", "K3", currency="USD", total="120.00", paid_on="2026-02-20"),
            invoice("G1", "K3", currency="GBP", total="75.50", paid_on="2026-03-01"),
            invoice("G2", "K3", currency="GBP", total="40.00", paid_on="2026-01-20"),  # before the 30 days
            invoice("G3", "K3", currency="GBP", total="99.00", paid_on="2026-02-25", voided=True),
            invoice("E1", "K3", total="300.00", due=date(2026, 2, 10)),
        ],
    )
    with db.session() as session:
        ledger_service.push_payments(
            session,
            clock,
            Batch.of(
                PaymentIn,
                [PaymentIn(**payment("PE", "K3", "100.00", invoice_external_id="E1", received_on="2026-02-16"))],
            ),
            "payment",
        )
    # the accounting system then reports E1 paid on the 18th: 100 was our payment, 200 settled there
    seed(
        db, clock, [customer("K3")], [invoice("E1", "K3", total="300.00", due=date(2026, 2, 10), paid_on="2026-02-18")]
    )
    with db.session() as session:
        collected = {c.currency: c.collected_30d for c in figures.load(session, clock).currencies}
    assert collected == {"USD": 12_000, "GBP": 7_550, "EUR": 10_000 + 20_000}
