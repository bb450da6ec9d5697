"""Loading what the engine needs for many cases at once: a handful of set-based queries, never one
per case, so a cycle over a hundred thousand customers stays a few seconds of work."""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from types import SimpleNamespace
from typing import Literal, TypeVarTuple, cast
from zoneinfo import ZoneInfo

from sqlalchemy import Select, String, select, type_coerce
from sqlalchemy.orm import Mapped
from sqlmodel import Session, col

from dunning.cases.models import CASE, CLOSED, Case
from dunning.contacts import OptOut
from dunning.contacts.models import Contact, ContactOptOut
from dunning.ledger.bulk import one_of
from dunning.ledger.models import Customer, Invoice
from dunning.outbox.models import IN_DOUBT, PENDING, SENDING, SENT, Message
from dunning.policies.engine import Addressee, ContactView, CustomerView, InvoiceView, Names
from dunning.records.arrangements import Dispute

CONTACT_LOOKBACK = timedelta(days=14)  # the caps look at most 7 days back; spacing a few more
CHANNELS = frozenset({"email", "sms", "letter"})  # those a contact's address serves
FEW = 2_000  # up to this many customers, an IN list; beyond, one bound array
Row = TypeVarTuple("Row")  # a select's column types, kept through the filter
CustomerKind = Literal["business", "consumer"]


def _only(session: Session, stmt: Select[*Row], column: Mapped[int | None], ids: set[int] | None) -> Select[*Row]:
    """Restrict to these customers: an IN list when few, else one bound array searched through
    the column's index (a first cycle reads tens of thousands of customers)."""
    if ids is None:
        return stmt
    if len(ids) <= FEW:
        return stmt.where(column.in_(ids))
    return stmt.where(one_of(column, "customer_ids", session.get_bind().dialect.name, ids))


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


def open_invoices(
    session: Session, until: date, customer_ids: set[int] | None = None
) -> dict[tuple[int, str], Account]:
    disputed = set(session.execute(select(col(Dispute.invoice_id)).where(col(Dispute.status) == "open")).scalars())
    stmt = (
        select(
            col(Invoice.id),
            col(Invoice.customer_id),
            col(Invoice.currency),
            col(Invoice.number),
            col(Invoice.due_on),
            col(Invoice.balance_minor),
        )
        .where(col(Invoice.balance_minor) > 0, col(Invoice.voided).is_(False), col(Invoice.due_on) <= until)
        .order_by(col(Invoice.customer_id), col(Invoice.currency), col(Invoice.due_on), col(Invoice.id))
    )
    stmt = _only(session, stmt, col(Invoice.customer_id), customer_ids)
    accounts: dict[tuple[int, str], Account] = {}
    for inv_id, customer_id, currency, number, due_on, balance in session.connection().execute(stmt):
        account = accounts.get((customer_id, currency))
        if account is None:
            account = accounts[(customer_id, currency)] = Account(customer_id, currency, [])
        account.invoices.append(InvoiceView(inv_id, number, due_on, balance, inv_id in disputed))
    return accounts


def cases(
    session: Session, keys: set[tuple[int, str]], customer_ids: set[int] | None = None
) -> dict[tuple[int, str], SimpleNamespace]:
    """Every case that is not closed, and the closed ones of accounts that owe again, as plain
    mutable records (the cycle writes them back in bulk; ORM objects would cost more than the cycle)."""
    found = {}
    stmt = _only(session, select(CASE), col(Case.customer_id), customer_ids)
    for row in session.connection().execute(stmt):
        if row.state != CLOSED or (row.customer_id, row.currency) in keys:
            found[(row.customer_id, row.currency)] = SimpleNamespace(**row._mapping)
    return found


def _hold_until(hold: date | None, tz: str) -> datetime | None:
    # "on hold until the 15th" includes the 15th: contact resumes the next morning, local time
    if hold is None:
        return None
    return datetime.combine(hold + timedelta(days=1), time(0), ZoneInfo(tz))


def customers(session: Session, ids: set[int]) -> tuple[dict[int, CustomerRow], dict[int, Exception]]:
    """The customers' rows, and those whose row could not be read (a date no calendar holds...):
    the cycle records those and goes on with the others."""
    opted: dict[int, set[str]] = defaultdict(set)
    for customer_id, channel in session.connection().execute(
        _only(session, select(col(OptOut.customer_id), col(OptOut.channel)), col(OptOut.customer_id), ids)
    ):
        opted[customer_id].add(channel)
    people = addressees(session, ids)
    # plain columns, JSON left as text: most customers refuse nothing, and ORM objects for a
    # hundred thousand customers cost more than everything else the cycle reads
    stmt = _only(
        session,
        select(
            col(Customer.id),
            col(Customer.external_id),
            col(Customer.name),
            col(Customer.language),
            col(Customer.policy_name),
            col(Customer.timezone),
            col(Customer.country),
            col(Customer.kind),
            col(Customer.excluded),
            col(Customer.hold_until),
            type_coerce(col(Customer.refused_channels), String),
        ),
        col(Customer.id),
        ids,
    )
    out, failed = {}, {}
    for (
        cid,
        ext,
        name,
        language,
        policy_name,
        tz,
        country,
        kind,
        excluded,
        hold,
        refused,
    ) in session.connection().execute(stmt):
        assert cid is not None, "a customer read from its table has its id"
        try:
            reachable = people.get(cid, ())
            out[cid] = CustomerRow(
                cid,
                ext,
                name,
                language,
                policy_name,
                CustomerView(
                    tz=tz,
                    country=country,
                    kind=cast(CustomerKind, kind),  # the ledger admits no other (ledger/schemas.py)
                    excluded=bool(excluded),
                    hold_until=_hold_until(hold, tz),
                    refused_channels=Names(_channels(refused)),
                    invalid_channels=Names(CHANNELS - {c for a in reachable for c in a.channels}),
                    opted_out_channels=Names(opted.get(cid, ())),
                    addressees=tuple(reachable),
                ),
            )
        except Exception as e:
            failed[cid] = e
    return out, failed


def addressees(session: Session, ids: set[int]) -> dict[int, list[Addressee]]:
    """Each customer's contacts with the channels each can be written to on: an address there,
    no invalid mark, no opt-out of its own (the customer-wide ones are the view's)."""
    stopped: dict[int, set[str]] = defaultdict(set)
    for contact_id, channel in session.connection().execute(
        _only(
            session,
            select(col(ContactOptOut.contact_id), col(ContactOptOut.channel)).join(
                Contact, col(Contact.id) == col(ContactOptOut.contact_id)
            ),
            col(Contact.customer_id),
            ids,
        )
    ):
        stopped[contact_id].add(channel)
    out: dict[int, list[Addressee]] = defaultdict(list)
    stmt = _only(
        session,
        select(
            col(Contact.customer_id),
            col(Contact.id),
            col(Contact.name),
            type_coerce(col(Contact.roles), String),
            type_coerce(col(Contact.invalid_channels), String),
            col(Contact.email).is_not(None),
            col(Contact.phone).is_not(None),
            col(Contact.address).is_not(None),
        ).order_by(col(Contact.id)),
        col(Contact.customer_id),
        ids,
    )
    for (
        customer_id,
        read_contact_id,
        name,
        roles,
        invalid,
        has_email,
        has_phone,
        has_address,
    ) in session.connection().execute(stmt):
        assert read_contact_id is not None, "a contact read from its table has its id"
        have = {c for c, has in (("email", has_email), ("sms", has_phone), ("letter", has_address)) if has}
        out[customer_id].append(
            Addressee(
                read_contact_id,
                Names(_channels(roles)),
                Names(have - set(_channels(invalid)) - stopped[read_contact_id]),
                name,
            )
        )
    return out


def _channels(text: str | list[str] | None) -> list[str]:
    if not text or text == "[]":
        return []
    return text if isinstance(text, list) else json.loads(text)


def contacts(session: Session, now: datetime, customer_ids: set[int] | None = None) -> dict[int, list[ContactView]]:
    """Messages sent recently or still to go out, per customer: what the contact caps count."""
    stmt = select(col(Message.customer_id), col(Message.channel), col(Message.sent_at), col(Message.send_after)).where(
        col(Message.status).in_((*PENDING, SENDING, SENT, IN_DOUBT)),
        col(Message.send_after) >= now - CONTACT_LOOKBACK,
        col(Message.channel) != "agency",
    )
    stmt = _only(session, stmt, col(Message.customer_id), customer_ids)
    out: dict[int, list[ContactView]] = defaultdict(list)
    for customer_id, channel, sent_at, send_after in session.execute(stmt):
        out[customer_id].append(ContactView(sent_at or send_after, channel))
    return out


def cases_with_pending_messages(session: Session, customer_ids: set[int] | None = None) -> set[int]:
    stmt = _only(
        session,
        select(col(Message.case_id)).where(col(Message.status).in_((*PENDING, SENDING))).distinct(),
        col(Message.customer_id),
        customer_ids,
    )
    return {case_id for case_id in session.connection().execute(stmt).scalars() if case_id is not None}
