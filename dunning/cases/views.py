"""Loading what the engine needs for many cases at once: a handful of set-based queries, never one
per case, so a cycle over a hundred thousand customers stays a few seconds of work."""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlmodel import Session

from dunning.arrangements.models import Dispute
from dunning.cases.models import CLOSED, Case
from dunning.contacts import OptOut
from dunning.ledger.models import Customer, Invoice
from dunning.outbox.models import IN_DOUBT, PENDING, SENDING, SENT, Message
from dunning.policies.engine import ContactView, CustomerView, InvoiceView

CONTACT_LOOKBACK = timedelta(days=14)  # the caps look at most 7 days back; spacing a few more
FEW = 2_000  # up to this many customers, filter in SQL; beyond, one scan is cheaper than chunks


def _only(stmt, column, ids: set[int] | None):
    return stmt.where(column.in_(ids)) if ids is not None and len(ids) <= FEW else stmt


@dataclass
class Account:
    customer_id: int
    currency: str
    invoices: list[InvoiceView]


@dataclass(frozen=True)
class CustomerRow:
    id: int
    external_id: str
    name: str
    language: str
    policy_name: str | None
    view: CustomerView


def open_invoices(session: Session, until: date, customer_ids: set[int] | None = None) -> dict[tuple[int, str], Account]:
    disputed = set(session.execute(select(Dispute.invoice_id).where(Dispute.status == "open")).scalars())
    stmt = (select(Invoice.id, Invoice.customer_id, Invoice.currency, Invoice.number, Invoice.due_on,
                   Invoice.balance_minor)
            .where(Invoice.balance_minor > 0, Invoice.voided.is_(False), Invoice.due_on <= until)
            .order_by(Invoice.customer_id, Invoice.currency, Invoice.due_on, Invoice.id))
    stmt = _only(stmt, Invoice.customer_id, customer_ids)
    accounts: dict[tuple[int, str], Account] = {}
    for inv_id, customer_id, currency, number, due_on, balance in session.connection().execute(stmt):
        if customer_ids is not None and customer_id not in customer_ids:
            continue
        account = accounts.get((customer_id, currency))
        if account is None:
            account = accounts[(customer_id, currency)] = Account(customer_id, currency, [])
        account.invoices.append(InvoiceView(inv_id, number, due_on, balance, inv_id in disputed))
    return accounts


def cases(session: Session, keys: set[tuple[int, str]], customer_ids: set[int] | None = None) -> dict[tuple[int, str], Case]:
    """Every case that is not closed, and the closed ones of accounts that owe again."""
    found = {}
    for case in session.execute(_only(select(Case), Case.customer_id, customer_ids)).scalars():
        if customer_ids is not None and case.customer_id not in customer_ids:
            continue
        if case.state != CLOSED or (case.customer_id, case.currency) in keys:
            found[(case.customer_id, case.currency)] = case
    return found


def _hold_until(hold: date | None, tz: str) -> datetime | None:
    # "on hold until the 15th" includes the 15th: contact resumes the next morning, local time
    if hold is None:
        return None
    return datetime.combine(hold + timedelta(days=1), time(0), ZoneInfo(tz))


def customers(session: Session, ids: set[int]) -> dict[int, CustomerRow]:
    opted: dict[int, set[str]] = defaultdict(set)
    for customer_id, channel in session.connection().execute(
            _only(select(OptOut.customer_id, OptOut.channel), OptOut.customer_id, ids)):
        opted[customer_id].add(channel)
    out = {}
    for c in session.execute(_only(select(Customer), Customer.id, ids)).scalars():
        if c.id not in ids:
            continue
        invalid = set(c.invalid_channels)
        if not c.email:
            invalid.add("email")
        if not c.phone:
            invalid.add("sms")
        if not c.address:
            invalid.add("letter")
        out[c.id] = CustomerRow(c.id, c.external_id, c.name, c.language, c.policy_name, CustomerView(
            tz=c.timezone, country=c.country, kind=c.kind, excluded=c.excluded,
            hold_until=_hold_until(c.hold_until, c.timezone), refused_channels=frozenset(c.refused_channels),
            invalid_channels=frozenset(invalid), opted_out_channels=frozenset(opted.get(c.id, ()))))
    return out


def contacts(session: Session, now: datetime, customer_ids: set[int] | None = None) -> dict[int, list[ContactView]]:
    """Messages sent recently or still to go out, per customer: what the contact caps count."""
    stmt = (select(Message.customer_id, Message.channel, Message.sent_at, Message.send_after)
            .where(Message.status.in_((*PENDING, SENDING, SENT, IN_DOUBT)),
                   Message.send_after >= now - CONTACT_LOOKBACK, Message.channel != "agency"))
    stmt = _only(stmt, Message.customer_id, customer_ids)
    out: dict[int, list[ContactView]] = defaultdict(list)
    for customer_id, channel, sent_at, send_after in session.execute(stmt):
        out[customer_id].append(ContactView(sent_at or send_after, channel))
    return out


def cases_with_pending_messages(session: Session, customer_ids: set[int] | None = None) -> set[int]:
    stmt = _only(select(Message.case_id).where(Message.status.in_((*PENDING, SENDING))).distinct(),
                 Message.customer_id, customer_ids)
    return {case_id for case_id in session.connection().execute(stmt).scalars() if case_id is not None}
