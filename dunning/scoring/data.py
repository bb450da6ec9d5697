"""The ledger as the scoring core reads it: one invoice frame and the dated conversations.

The frame has the columns features.py expects (customer_id, invoice_id, issued_on, due_on,
paid_on, amount, currency) plus `total_minor` and `open_minor`, which the rescore weighs invoices
by.

It is read with one Core select and no ORM objects, dates as day numbers computed in SQL:
turning a million rows into date objects one by one would cost more than everything the scoring
does with them. Rows come in id order, the order the ledger
received them, so a backtest on the same data is the same computation every time.

Left out, on purpose:
- voided invoices: they were never owed.
- invoices with nothing open but no payment date (pushed with balance 0 and no `paid_on`): they
  are neither open nor usable history, since when they were paid is unknown and inventing a date
  would invent a label.

Replies are every inbound message matched to a customer, whatever it said: answering at all is
what the `replies` feature measures.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from sqlalchemy import Date, Integer, cast, func, literal, or_, select
from sqlmodel import Session, col

from dunning.ledger.models import Invoice
from dunning.money import exponent
from dunning.records.arrangements import Dispute, Promise
from dunning.records.replies import InboundMessage

COLUMNS = ["invoice_id", "customer_id", "issued_on", "due_on", "paid_on", "total_minor", "open_minor", "currency"]
ROW = np.dtype([(name, "U3" if name == "currency" else np.int64) for name in COLUMNS])  # dates as day numbers


# Within the days a datetime64[ns] column can hold (1677 to 2262), as days since 1970-01-01. An
# invoice dated outside (the "0001-01-01" an export writes for an empty date) would silently wrap
# around to another date: its customer is left out, and the job records why.
FIRST_DAY, LAST_DAY = (int(np.datetime64(day, "D").astype(np.int64)) for day in ("1680-01-01", "2260-12-31"))


@dataclass
class History:
    invoices: pd.DataFrame
    events: dict[str, pd.DataFrame] = field(default_factory=dict)
    unusable: dict[int, str] = field(default_factory=dict)  # customer id -> why none of theirs is read


def load_history(session: Session) -> History:
    invoices, unusable = load_invoices(session)
    return History(invoices, load_events(session), unusable)


def load_invoices(session: Session) -> tuple[pd.DataFrame, dict[int, str]]:
    conn = session.connection()
    stmt = (
        select(
            col(Invoice.id),
            col(Invoice.customer_id),
            _epoch_days(col(Invoice.issued_on), conn),
            _epoch_days(col(Invoice.due_on), conn),
            func.coalesce(_epoch_days(col(Invoice.paid_on), conn), _NO_DATE),
            col(Invoice.total_minor),
            col(Invoice.balance_minor),
            col(Invoice.currency),
        )
        .where(col(Invoice.voided).is_(False), or_(col(Invoice.paid_on).is_not(None), col(Invoice.balance_minor) > 0))
        .order_by(col(Invoice.id))
    )
    # Built with Core, fetched with the driver's own cursor inside the session's transaction: a
    # million SQLAlchemy rows and their transposition cost more than the query itself.
    cursor = conn.connection.cursor()
    try:
        cursor.execute(str(stmt.compile(dialect=conn.dialect, compile_kwargs={"literal_binds": True})))
        rows = cursor.fetchall()
    finally:
        cursor.close()
    # Straight into typed columns: numpy converts the tuples in C, where an object array first
    # and a conversion per column after cost twice as much.
    raw = np.array(rows, dtype=ROW)
    raw, unusable = _usable(raw)
    currency = pd.Series(raw["currency"], dtype=object)
    total = raw["total_minor"]
    # Major units, whatever the currency's decimals: the model's amount features compare like with like.
    # Divided, not multiplied by 0.01: the quotient is the double nearest the decimal amount.
    scale = currency.map({c: 10.0 ** exponent(c) for c in pd.unique(currency)}).to_numpy(np.float64)
    return pd.DataFrame(
        {
            "customer_id": raw["customer_id"],
            "invoice_id": raw["invoice_id"],
            "issued_on": _dates(raw["issued_on"]),
            "due_on": _dates(raw["due_on"]),
            "paid_on": _dates(raw["paid_on"]),
            "amount": total / scale if len(total) else total.astype(np.float64),
            "currency": currency,
            "total_minor": total,
            "open_minor": raw["open_minor"],
        }
    ), unusable


_NO_DATE = -(2**31)  # stands for NULL in a day-number column, so the column stays integer


def _usable(raw: np.ndarray) -> tuple[np.ndarray, dict[int, str]]:
    """The rows of customers none of whose invoices has a date out of range, and why the others are out."""
    paid = np.where(raw["paid_on"] == _NO_DATE, 0, raw["paid_on"])
    bad = np.zeros(len(raw), dtype=bool)
    for days in (raw["issued_on"], raw["due_on"], paid):
        bad |= (days < FIRST_DAY) | (days > LAST_DAY)
    if not bad.any():
        return raw, {}
    unusable: dict[int, str] = {}
    for invoice_id, customer_id in zip(raw["invoice_id"][bad], raw["customer_id"][bad]):
        unusable.setdefault(
            int(customer_id), f"invoice {invoice_id} has a date before 1680 or after 2260, which scoring cannot use"
        )
    return raw[~np.isin(raw["customer_id"], list(unusable))], unusable


def _epoch_days(column, conn):
    """Days since 1970-01-01, computed by the database: integers convert in one step, where date
    objects or strings would be parsed one by one."""
    if conn.dialect.name == "sqlite":
        return cast(func.julianday(column) - 2440587.5, Integer)
    return column - cast(literal("1970-01-01"), Date)  # PostgreSQL: date - date is an integer


def _dates(days: np.ndarray) -> np.ndarray:
    days = np.asarray(days, dtype=np.int64)
    out = days.astype("datetime64[D]").astype("datetime64[ns]")
    out[days == _NO_DATE] = np.datetime64("NaT")
    return out


def load_events(session: Session) -> dict[str, pd.DataFrame]:
    conn = session.connection()
    disputes = conn.execute(select(col(Dispute.customer_id), col(Dispute.opened_at))).all()
    replies = conn.execute(
        select(col(InboundMessage.customer_id), col(InboundMessage.received_at)).where(
            col(InboundMessage.customer_id).is_not(None)
        )
    ).all()
    # A promise counts once it is decided (kept or broken), on the day it was: settled_at when the
    # ledger recorded it, else the end of its grace period.
    promises = conn.execute(
        select(
            col(Promise.customer_id),
            col(Promise.created_at),
            col(Promise.settled_at),
            col(Promise.grace_until),
            col(Promise.status),
        ).where(col(Promise.status).in_(("kept", "broken")))
    ).all()
    return {
        "disputes": pd.DataFrame(
            {"customer_id": pd.Series([r[0] for r in disputes], dtype=np.int64), "at": _utc([r[1] for r in disputes])}
        ),
        "replies": pd.DataFrame(
            {"customer_id": pd.Series([r[0] for r in replies], dtype=np.int64), "at": _utc([r[1] for r in replies])}
        ),
        "promises": pd.DataFrame(
            {
                "customer_id": pd.Series([r[0] for r in promises], dtype=np.int64),
                "at": _utc([r[1] for r in promises]),
                "due": _utc([r[2] if r[2] is not None else pd.Timestamp(r[3], tz="UTC") for r in promises]),
                "kept": pd.array([r[4] == "kept" for r in promises], dtype="boolean"),
            }
        ),
    }


def _utc(values) -> pd.Series:
    return (
        pd.Series(pd.to_datetime(pd.Series(values, dtype=object), utc=True))
        .dt.tz_localize(None)
        .astype("datetime64[ns]")
    )
