"""Reading the ledger: customers with balances, invoice lists, the aging report."""

from __future__ import annotations

from datetime import date

from sqlalchemy import and_, case, func, select
from sqlmodel import Session, col

from dunning.contacts import contact_opt_outs, opted_out_channels
from dunning.contacts.models import Contact
from dunning.db import exact_sum
from dunning.errors import NotFound
from dunning.ledger.models import Allocation, Customer, Invoice, Payment
from dunning.ledger.schemas import (
    AgingReport,
    AgingRow,
    BalanceOut,
    ContactOut,
    CustomerDetail,
    CustomerOut,
    InvoiceOut,
)
from dunning.money import as_string
from dunning.paging import Page, decode_cursor, page

OPEN = and_(col(Invoice.balance_minor) > 0, col(Invoice.voided).is_(False))


def payments_by_invoice(session: Session, invoice_ids: set[int]) -> dict[int, list[tuple[date, int]]]:
    """(received on, amount) of the payments allocated to each invoice, for interest that stops on
    what each paid from its date. Credit notes are left out: a credited amount was never owed."""
    out: dict[int, list[tuple[date, int]]] = {}
    if invoice_ids:
        for invoice_id, received_on, amount in session.execute(
            select(col(Allocation.invoice_id), col(Payment.received_on), col(Allocation.amount_minor))
            .join(Payment, col(Payment.id) == col(Allocation.payment_id))
            .where(col(Allocation.invoice_id).in_(invoice_ids), col(Payment.kind) == "payment")
        ):
            out.setdefault(invoice_id, []).append((received_on, amount))
    return out


def customer_out(c: Customer) -> CustomerOut:
    return CustomerOut.model_validate(c, from_attributes=True)


def get_customer(session: Session, external_id: str) -> Customer:
    customer: Customer | None = session.execute(
        select(Customer).where(col(Customer.external_id) == external_id)
    ).scalar_one_or_none()
    if customer is None:
        raise NotFound(f"no customer with external_id '{external_id}'")
    return customer


def list_customers(session: Session, *, limit: int, cursor: str | None) -> Page[CustomerOut]:
    rows = (
        session.execute(
            select(Customer).where(col(Customer.id) > decode_cursor(cursor)).order_by(col(Customer.id)).limit(limit + 1)
        )
        .scalars()
        .all()
    )
    return page(list(rows), limit, customer_out)


def customer_detail(session: Session, external_id: str, today: date) -> CustomerDetail:
    c = get_customer(session, external_id)
    assert c.id is not None  # a stored row
    overdue = col(Invoice.due_on) < today
    rows = session.execute(
        select(
            col(Invoice.currency),
            func.sum(col(Invoice.balance_minor)),
            func.sum(case((overdue, col(Invoice.balance_minor)), else_=0)),
            func.min(case((overdue, col(Invoice.due_on)))),
        )
        .where(col(Invoice.customer_id) == c.id, OPEN)
        .group_by(col(Invoice.currency))
        .order_by(col(Invoice.currency))
    ).all()
    balances = [
        BalanceOut(currency=cur, open=as_string(total, cur), overdue=as_string(late, cur), oldest_overdue_due_on=oldest)
        for cur, total, late, oldest in rows
    ]
    return CustomerDetail(
        **customer_out(c).model_dump(),
        balances=balances,
        hold_until=c.hold_until,
        excluded=c.excluded,
        policy_name=c.policy_name,
        contacts=contacts_of(session, c.id),
        opted_out_channels=sorted(opted_out_channels(session, c.id)),
    )


def contacts_of(session: Session, customer_id: int) -> list[ContactOut]:
    contacts = list(
        session.execute(
            select(Contact).where(col(Contact.customer_id) == customer_id).order_by(col(Contact.id))
        ).scalars()
    )
    stopped = contact_opt_outs(session, (k.id for k in contacts))
    return [
        ContactOut(
            external_id=k.external_id,
            name=k.name,
            email=k.email,
            phone=k.phone,
            address=k.address,
            language=k.language,
            roles=k.roles,
            invalid_channels=k.invalid_channels,
            opted_out_channels=sorted(stopped.get(k.id, ())),
        )
        for k in contacts
    ]


def invoice_out(inv: Invoice, customer_external_id: str, today: date) -> InvoiceOut:
    late = (today - inv.due_on).days if inv.balance_minor > 0 and not inv.voided else 0
    return InvoiceOut(
        external_id=inv.external_id,
        customer_external_id=customer_external_id,
        number=inv.number,
        currency=inv.currency,
        total=as_string(inv.total_minor, inv.currency),
        balance=as_string(inv.balance_minor, inv.currency),
        issued_on=inv.issued_on,
        due_on=inv.due_on,
        paid_on=inv.paid_on,
        voided=inv.voided,
        days_overdue=max(0, late),
    )


def list_invoices(
    session: Session,
    *,
    today: date,
    limit: int,
    cursor: str | None,
    customer: str | None,
    status: str | None,
    overdue: bool | None,
) -> Page[InvoiceOut]:
    stmt = (
        select(Invoice, col(Customer.external_id))
        .join(Customer, col(Customer.id) == col(Invoice.customer_id))
        .where(col(Invoice.id) > decode_cursor(cursor))
    )
    if customer is not None:
        stmt = stmt.where(col(Customer.external_id) == customer)
    if status == "open":
        stmt = stmt.where(OPEN)
    elif status == "closed":
        stmt = stmt.where(~OPEN)
    if overdue is True:
        stmt = stmt.where(OPEN, col(Invoice.due_on) < today)
    elif overdue is False:
        stmt = stmt.where(~and_(OPEN, col(Invoice.due_on) < today))
    rows = session.execute(stmt.order_by(col(Invoice.id)).limit(limit + 1)).all()
    return page(list(rows), limit, lambda row: invoice_out(row[0], row[1], today), last_id=lambda row: row[0].id)


BUCKETS = ("not_due", "d1_30", "d31_60", "d61_90", "over_90")


def aged_minor(session: Session, as_of: date) -> dict[str, list[int]]:
    """Open amounts per currency and bucket (BUCKETS), in minor units."""
    days = (
        func.julianday(as_of) - func.julianday(col(Invoice.due_on))
        if session.get_bind().dialect.name == "sqlite"
        else (as_of - col(Invoice.due_on))
    )
    bucket = case((days <= 0, 0), (days <= 30, 1), (days <= 60, 2), (days <= 90, 3), else_=4)
    rows = session.execute(
        select(col(Invoice.currency), bucket.label("b"), exact_sum(col(Invoice.balance_minor)))
        .where(OPEN, col(Invoice.issued_on) <= as_of)
        .group_by(col(Invoice.currency), "b")
    ).all()
    sums: dict[str, list[int]] = {}
    for currency, b, amount in rows:
        sums.setdefault(currency, [0] * len(BUCKETS))[int(b)] += int(amount)
    return sums


def aging(session: Session, as_of: date) -> AgingReport:
    sums = aged_minor(session, as_of)
    out = []
    for currency in sorted(sums):
        values = sums[currency]
        out.append(
            AgingRow(
                currency=currency,
                total=as_string(sum(values), currency),
                **{name: as_string(v, currency) for name, v in zip(BUCKETS, values)},
            )
        )
    return AgingReport(as_of=as_of, rows=out)
