"""What the forecast and the worklist read: the open invoices with their stored payment-date
quantiles, streamed, and the money promised on them (open promises, active plans).

Open invoices are streamed in blocks of typed numpy columns (a server-side cursor on PostgreSQL,
SQLite's own stepping), so a million of them never sit in memory at once. Days are computed by
the database as "days late today" (today - due date), the floor `PayDates` conditions on.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date
from typing import Any

import numpy as np
from sqlalchemy import Date, Float, Integer, and_, cast, func, literal, select
from sqlalchemy.engine import Connection
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import Session, col

from dunning.ledger.models import Invoice
from dunning.records.arrangements import Dispute, Installment, InstallmentPlan, Promise
from dunning.scoring.models import PayDatePrediction

BLOCK = 50_000  # invoices per block: a few (BLOCK x weeks) float arrays stay in tens of megabytes
OPEN = and_(col(Invoice.balance_minor) > 0, col(Invoice.voided).is_(False))
FIELDS = [
    ("invoice_id", np.int64),
    ("customer_id", np.int64),
    ("currency", "U3"),
    ("balance", np.int64),
    ("late", np.int64),  # days late today: today - due date (negative before the due date)
    ("disputed", np.int8),
    ("predicted", np.int8),  # 0: no stored prediction (invoice new since the last rescore)
    ("q10", np.float64),
    ("q50", np.float64),
    ("q90", np.float64),
]
ROW = np.dtype(FIELDS)


def days_since(day: date, column: Any, conn: Connection) -> ColumnElement[Any]:
    """`day - column` in whole days, computed by the database."""
    if conn.dialect.name == "sqlite":
        return cast(func.julianday(literal(day.isoformat())) - func.julianday(column), Integer)
    days: ColumnElement[Any] = cast(literal(day.isoformat()), Date) - column  # PostgreSQL: date - date is days
    return days


def open_invoices(session: Session, today: date, customer_ids: Iterable[int] | None = None) -> Iterator[np.ndarray]:
    """Blocks of open invoices (ROW), every one of them: disputed or not, predicted or not."""
    conn = session.connection()
    dispute = select(col(Dispute.invoice_id)).where(col(Dispute.status) == "open").subquery()
    stmt = (
        select(
            col(Invoice.id),
            col(Invoice.customer_id),
            col(Invoice.currency),
            col(Invoice.balance_minor),
            days_since(today, col(Invoice.due_on), conn),
            cast(dispute.c.invoice_id.is_not(None), Integer),
            cast(col(PayDatePrediction.invoice_id).is_not(None), Integer),
            *(
                func.coalesce(cast(column, Float), 0.0)
                for column in (PayDatePrediction.q10_days, PayDatePrediction.q50_days, PayDatePrediction.q90_days)
            ),
        )
        .outerjoin(dispute, dispute.c.invoice_id == col(Invoice.id))
        # A prediction row of an invoice no longer open is never joined: only open invoices are read.
        .outerjoin(PayDatePrediction, col(PayDatePrediction.invoice_id) == col(Invoice.id))
        .where(OPEN)
    )
    if customer_ids is not None:
        stmt = stmt.where(col(Invoice.customer_id).in_(sorted(set(customer_ids))))
    # Built with Core, fetched with the driver's own cursor inside the session's transaction (as
    # scoring/data.py reads the ledger): SQLAlchemy's rows cost more than the query. On PostgreSQL
    # a named (server-side) cursor, so the rows come a block at a time; SQLite steps as it is read.
    sql = str(stmt.compile(dialect=conn.dialect, compile_kwargs={"literal_binds": True}))
    driver = conn.connection.driver_connection
    assert driver is not None  # a live connection inside the session's transaction
    cursor = driver.cursor(name="open_invoices") if conn.dialect.name == "postgresql" else driver.cursor()
    try:
        cursor.execute(sql)
        while rows := cursor.fetchmany(BLOCK):
            yield np.array(rows, dtype=ROW)  # typed columns straight from the tuples, in C
    finally:
        cursor.close()


@dataclass(frozen=True)
class Promised:
    """Money a customer committed to pay on an account, on a day (a promise or one installment)."""

    customer_id: int
    currency: str
    on: date
    amount: int


def promised(session: Session, today: date, customer_ids: Iterable[int] | None = None) -> list[Promised]:
    """What is still to come of open promises and active plans, by account and day.

    A promise counts while it is open and its grace period has not run out (once it has, it is
    broken, whether or not the hourly job has said so yet); a broken, kept or cancelled one does
    not. An installment counts while its plan is active and it is not paid; one whose day has
    passed (missed, within the plan's grace) is expected today.
    """
    promise_q = select(
        col(Promise.customer_id),
        col(Promise.currency),
        col(Promise.promised_on),
        col(Promise.amount_minor),
        col(Promise.paid_minor),
    ).where(col(Promise.status) == "open", col(Promise.grace_until) >= today)
    plan_q = (
        select(
            col(InstallmentPlan.customer_id),
            col(InstallmentPlan.currency),
            col(Installment.due_on),
            col(Installment.amount_minor),
            col(Installment.paid_minor),
        )
        .join(InstallmentPlan, col(InstallmentPlan.id) == col(Installment.plan_id))
        .where(col(InstallmentPlan.status) == "active", col(Installment.status) != "paid")
    )
    if customer_ids is not None:
        ids = sorted(set(customer_ids))
        promise_q = promise_q.where(col(Promise.customer_id).in_(ids))
        plan_q = plan_q.where(col(InstallmentPlan.customer_id).in_(ids))
    out = []
    for query in (promise_q, plan_q):
        for customer_id, currency, on, amount, paid in session.execute(query):
            if amount > paid:
                out.append(Promised(customer_id, currency, max(on, today), amount - paid))
    return out


def covered(
    session: Session, today: date, commitments: list[Promised]
) -> tuple[dict[tuple[int, str], list[Promised]], np.ndarray, np.ndarray]:
    """What of the promised money each account can really receive, and which invoices it covers.

    An account's commitments are capped at its undisputed open balance (a payment may have come in
    before the promise was judged), earliest first; that amount is taken off its undisputed
    invoices oldest due first, as payments are allocated. Returns the capped commitments per
    account and, sorted by invoice id, the invoices covered and by how much.
    """
    by_account: dict[tuple[int, str], list[Promised]] = {}
    for c in sorted(commitments, key=lambda c: (c.customer_id, c.currency, c.on)):
        by_account.setdefault((c.customer_id, c.currency), []).append(c)
    if not by_account:
        return {}, np.zeros(0, np.int64), np.zeros(0, np.int64)
    invoices: dict[tuple[int, str], list[tuple[int, int]]] = {}
    customers = {customer_id for customer_id, _ in by_account}
    dispute = select(col(Dispute.invoice_id)).where(col(Dispute.status) == "open")
    for invoice_id, customer_id, currency, balance in session.execute(
        select(col(Invoice.id), col(Invoice.customer_id), col(Invoice.currency), col(Invoice.balance_minor))
        .where(OPEN, col(Invoice.customer_id).in_(sorted(customers)), col(Invoice.id).not_in(dispute))
        .order_by(col(Invoice.due_on), col(Invoice.id))
    ):
        invoices.setdefault((customer_id, currency), []).append((invoice_id, balance))
    capped: dict[tuple[int, str], list[Promised]] = {}
    ids, amounts = [], []
    for account, items in by_account.items():
        room = sum(balance for _, balance in invoices.get(account, ()))
        kept = []
        for c in items:
            take = min(c.amount, room)
            if take > 0:
                kept.append(Promised(c.customer_id, c.currency, c.on, take))
                room -= take
        if not kept:
            continue
        capped[account] = kept
        left = sum(c.amount for c in kept)
        for invoice_id, balance in invoices[account]:
            if left == 0:
                break
            take = min(balance, left)
            ids.append(invoice_id)
            amounts.append(take)
            left -= take
    order = np.argsort(np.asarray(ids, np.int64), kind="stable")
    return capped, np.asarray(ids, np.int64)[order], np.asarray(amounts, np.int64)[order]


def covered_of(invoice_ids: np.ndarray, covered_ids: np.ndarray, covered_amounts: np.ndarray) -> np.ndarray:
    """The promised part of each invoice of a block (0 for most)."""
    if not len(covered_ids):
        return np.zeros(len(invoice_ids), np.int64)
    at = np.clip(np.searchsorted(covered_ids, invoice_ids), 0, len(covered_ids) - 1)
    return np.where(covered_ids[at] == invoice_ids, covered_amounts[at], 0)
