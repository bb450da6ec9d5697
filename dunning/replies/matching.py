"""Who wrote, and about which case.

SMS: the sender's E.164 number against the customers' contacts' phones. Email, most specific
first: the plus address token of our Reply-To (Message.reply_token), then In-Reply-To /
References against the Message-IDs we sent (Message.provider_id), then the sender's address
against the contacts' emails. The contact who wrote is the customer's contact with the sender's
number or address; an email answering our message from an address none of them has (a colleague
it was forwarded to) has no contact, and what it asks for applies to the whole customer.
The case is the one of the message answered when there is one, else the customer's open case
(the most recently active if there are several currencies).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlmodel import Session, col

from dunning.cases.models import CLOSED, Case
from dunning.config import Settings
from dunning.contacts.models import Contact
from dunning.ledger.models import Customer
from dunning.outbox.models import SENT, Message
from dunning.replies.mail import InboundMail, extract_reply_token
from dunning.words import agree, plural


@dataclass
class Match:
    customer: Customer | None
    case: Case | None
    message: Message | None
    matched_by: str  # phone | reply_token | in_reply_to | references | sender | none
    note: str | None = None
    contact: Contact | None = None  # the customer's contact who wrote, when the sender is one


def _case(session: Session, customer: Customer, message: Message | None) -> Case | None:
    if message is not None and message.case_id is not None:
        case = session.get(Case, message.case_id)
        if case is not None and case.state != CLOSED:
            return case
    return session.execute(
        select(Case)
        .where(col(Case.customer_id) == customer.id, col(Case.state) != CLOSED)
        .order_by(col(Case.updated_at).desc(), col(Case.id).desc())
        .limit(1)
    ).scalar_one_or_none()


def _found(session: Session, customer: Customer, message: Message | None, how: str, contacts: list[Contact]) -> Match:
    own = next((c for c in contacts if c.customer_id == customer.id), None)
    return Match(customer, _case(session, customer, message), message, how, contact=own)


def _by_email(session: Session, address: str | None) -> list[Contact]:
    if not address:
        return []
    return list(
        session.execute(
            select(Contact).where(func.lower(col(Contact.email)) == address.lower()).order_by(col(Contact.id))
        ).scalars()
    )


def sms_sender(session: Session, number: str) -> Match:
    number = number.strip()
    contacts = list(
        session.execute(select(Contact).where(col(Contact.phone) == number).order_by(col(Contact.id))).scalars()
    )
    customers = [session.get(Customer, i) for i in dict.fromkeys(c.customer_id for c in contacts)]
    last_sent = session.execute(
        select(Message)
        .where(col(Message.channel) == "sms", col(Message.recipient) == number, col(Message.status) == SENT)
        .order_by(col(Message.sent_at).desc(), col(Message.id).desc())
        .limit(1)
    ).scalar_one_or_none()
    if len(customers) == 1:
        message = last_sent if last_sent is not None and last_sent.customer_id == customers[0].id else None
        return _found(session, customers[0], message, "phone", contacts)
    if len(customers) > 1 and last_sent is not None:
        # A shared number (a small business and its owner): the last one we texted is answering.
        owner = next((c for c in customers if c.id == last_sent.customer_id), None)
        if owner is not None:
            return _found(session, owner, last_sent, "phone", contacts)
    n = len(customers)
    note = f"{plural(n, 'customer')} {agree(n, 'has', 'have')} this number" if customers else None
    return Match(None, None, None, "none", note)


def email_sender(session: Session, settings: Settings, mail: InboundMail) -> Match:
    mailbox = settings.smtp_from_address.partition("@")[0].partition("+")[0] or None
    token = extract_reply_token(mail.recipients, mailbox=mailbox)
    if token:
        message = session.execute(select(Message).where(col(Message.reply_token) == token)).scalars().first()
        if message is not None:
            return _found(
                session,
                session.get(Customer, message.customer_id),
                message,
                "reply_token",
                _by_email(session, mail.from_address),
            )
    for how, ids in (
        ("in_reply_to", [mail.in_reply_to] if mail.in_reply_to else []),
        ("references", list(reversed(mail.references))),
    ):
        for message_id in ids:
            message = session.execute(select(Message).where(col(Message.provider_id) == message_id)).scalars().first()
            if message is not None:
                return _found(
                    session,
                    session.get(Customer, message.customer_id),
                    message,
                    how,
                    _by_email(session, mail.from_address),
                )
    if mail.from_address:
        contacts = _by_email(session, mail.from_address)
        customers = [session.get(Customer, i) for i in dict.fromkeys(c.customer_id for c in contacts)]
        if len(customers) == 1:
            return _found(session, customers[0], None, "sender", contacts)
        if customers:
            return Match(None, None, None, "none", f"{plural(len(customers), 'customer')} have this address")
    return Match(None, None, None, "none")
