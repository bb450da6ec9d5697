from __future__ import annotations

from datetime import UTC, date, datetime

import pandas as pd
from sqlalchemy import select

from dunning.ledger import service as ledger_service
from dunning.ledger.batch import Batch
from dunning.ledger.models import Customer, Invoice
from dunning.ledger.schemas import CustomerIn, InvoiceIn
from dunning.records.arrangements import Dispute, Promise
from dunning.records.replies import InboundMessage
from dunning.scoring.data import load_events, load_invoices
from dunning.scoring.features import FEATURES, PAY_FEATURES, scoring_rows

AT = datetime(2026, 3, 1, 12, tzinfo=UTC)


def invoice(ext, total, currency="EUR", **over) -> InvoiceIn:
    data = {
        "external_id": ext,
        "customer_external_id": "C1",
        "number": ext,
        "currency": currency,
        "total": total,
        "issued_on": date(2026, 1, 1),
        "due_on": date(2026, 1, 31),
    }
    return InvoiceIn(**{**data, **over})


def seed(session, clock):
    ledger_service.push_customers(session, clock, Batch.of(CustomerIn, [CustomerIn(external_id="C1", name="One")]))
    ledger_service.push_invoices(
        session,
        clock,
        Batch.of(
            InvoiceIn,
            [
                invoice("paid", "120.50", paid_on=date(2026, 2, 20)),
                invoice("open", "80.00"),
                invoice("part", "100.00", balance="30.00"),
                invoice("void", "999.00", voided=True),
                invoice("settled-no-date", "50.00", balance="0"),
                invoice("yen", "1500", currency="JPY"),
            ],
        ),
    )
    return session.execute(select(Customer.id)).scalar_one()


def test_invoices_load_in_the_scoring_format_without_what_cannot_be_scored(db, clock):
    with db.session() as s:
        cid = seed(s, clock)
        frame, _ = load_invoices(s)
        ids = dict(s.execute(select(Invoice.external_id, Invoice.id)).all())
    # voided: never owed; nothing open but no payment date: neither open nor usable history
    assert list(frame["invoice_id"]) == [ids["paid"], ids["open"], ids["part"], ids["yen"]]
    assert (frame["customer_id"] == cid).all()
    row = frame.set_index("invoice_id").loc[ids["paid"]]
    assert row["issued_on"] == pd.Timestamp("2026-01-01") and row["paid_on"] == pd.Timestamp("2026-02-20")
    assert row["amount"] == 120.5 and row["total_minor"] == 12050 and row["open_minor"] == 0
    part = frame.set_index("invoice_id").loc[ids["part"]]
    assert pd.isna(part["paid_on"]) and part["open_minor"] == 3000 and part["amount"] == 100.0
    assert frame.set_index("invoice_id").loc[ids["yen"], "amount"] == 1500.0  # major units, whatever the decimals
    assert frame["issued_on"].dtype == "datetime64[ns]" and frame["paid_on"].dtype == "datetime64[ns]"


def test_the_loaded_frame_feeds_the_feature_builder(db, clock):
    with db.session() as s:
        seed(s, clock)
        frame, _ = load_invoices(s)
    X, meta = scoring_rows(frame, AT)
    assert list(X.columns) == FEATURES + PAY_FEATURES
    assert len(X) == 3  # open, part, yen: open on 2026-03-01; "paid" was paid before
    assert set(meta["currency"]) == {"EUR", "JPY"}


def test_an_empty_ledger_loads_as_an_empty_frame(db):
    with db.session() as s:
        frame, _ = load_invoices(s)
        events = load_events(s)
    assert frame.empty and list(frame.columns)[:7] == [
        "customer_id",
        "invoice_id",
        "issued_on",
        "due_on",
        "paid_on",
        "amount",
        "currency",
    ]
    assert all(t.empty for t in events.values())


def test_disputes_decided_promises_and_replies_are_dated_events(db, clock):
    with db.session() as s:
        cid = seed(s, clock)
        inv = s.execute(select(Invoice.id).where(Invoice.external_id == "open")).scalar_one()
        s.add(Dispute(invoice_id=inv, customer_id=cid, reason_code="quality", source="api", opened_at=AT))
        common = {
            "customer_id": cid,
            "currency": "EUR",
            "amount_minor": 100,
            "source": "sms",
            "created_by": "sms",
            "counted_from": date(2026, 2, 1),
            "created_at": datetime(2026, 2, 1, tzinfo=UTC),
        }
        s.add(
            Promise(
                **common,
                promised_on=date(2026, 2, 10),
                grace_until=date(2026, 2, 13),
                status="kept",
                settled_at=datetime(2026, 2, 9, 15, tzinfo=UTC),
            )
        )
        s.add(Promise(**common, promised_on=date(2026, 2, 10), grace_until=date(2026, 2, 13), status="broken"))
        s.add(Promise(**common, promised_on=date(2026, 3, 10), grace_until=date(2026, 3, 13), status="open"))
        reply = {
            "channel": "sms",
            "sender": "+33612345678",
            "matched_by": "phone",
            "language": "fr",
            "raw_text": "ok",
            "reply_text": "ok",
            "intent": "other",
            "confidence": 0.5,
            "received_at": AT,
        }
        s.add(InboundMessage(**reply, customer_id=cid))
        s.add(InboundMessage(**reply, customer_id=None))  # nobody matched: nobody's reply
        s.flush()
        events = load_events(s)
    assert list(events["disputes"]["at"]) == [pd.Timestamp("2026-03-01 12:00")]
    promises = events["promises"].sort_values("due")
    assert len(promises) == 2  # an open promise is not an outcome yet
    # known on the day it was decided: when the ledger settled it, else at the end of its grace
    assert list(promises["due"]) == [pd.Timestamp("2026-02-09 15:00"), pd.Timestamp("2026-02-13")]
    assert list(promises["kept"]) == [True, False]
    assert list(events["replies"]["customer_id"]) == [cid]
