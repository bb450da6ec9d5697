"""Per-channel opt-outs (STOP, unsubscribe links, the portal). Carrier practice: after STOP, nothing
more on that channel until the customer opts in again.

Two scopes: a contact's own (STOP from their number, an unsubscribe reply from their address), and
the customer's (a link or the portal, which any of the customer's contacts may have used, or a
sender we cannot place on one contact): a customer-wide opt-out silences every contact."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import UniqueConstraint, delete, select
from sqlmodel import Field, Session, SQLModel, col

from dunning.clock import Clock
from dunning.contacts.models import ContactOptOut
from dunning.db import insert_once, utc_column


class OptOut(SQLModel, table=True):
    __tablename__ = "opt_out"
    __table_args__ = (UniqueConstraint("customer_id", "channel"),)

    id: int | None = Field(default=None, primary_key=True)
    customer_id: int = Field(foreign_key="customer.id", index=True)
    channel: str = Field(max_length=10)
    source: str = Field(max_length=30)  # sms_stop, email_reply, unsubscribe_link, portal, team
    at: datetime = Field(sa_column=utc_column(nullable=False))


def opted_out_channels(session: Session, customer_id: int) -> frozenset[str]:
    """The customer-wide opt-outs."""
    return frozenset(
        session.execute(select(col(OptOut.channel)).where(col(OptOut.customer_id) == customer_id)).scalars()
    )


def contact_opt_outs(session: Session, contact_ids: Iterable[int]) -> dict[int, set[str]]:
    ids = list(contact_ids)
    out: dict[int, set[str]] = defaultdict(set)
    if ids:
        for contact_id, channel in session.execute(
            select(col(ContactOptOut.contact_id), col(ContactOptOut.channel)).where(
                col(ContactOptOut.contact_id).in_(ids)
            )
        ):
            out[contact_id].add(channel)
    return out


def opt_out(
    session: Session, clock: Clock, customer_id: int, channel: str, source: str, contact_id: int | None = None
) -> bool:
    """True when this is news (the first STOP gets a confirmation, a repeated one does not). Two at
    the same moment (a double click, a mail client that follows the link twice) make one record:
    the second finds it, or meets the unique key and is told it is old news. With `contact_id`,
    only that contact stops hearing from us on the channel."""
    if contact_id is not None:
        if channel in contact_opt_outs(session, [contact_id]).get(contact_id, ()):
            return False
        return insert_once(
            session, ContactOptOut(contact_id=contact_id, channel=channel, source=source, at=clock.now())
        )
    existing = session.execute(
        select(col(OptOut.id)).where(col(OptOut.customer_id) == customer_id, col(OptOut.channel) == channel)
    ).first()
    if existing is not None:
        return False
    return insert_once(session, OptOut(customer_id=customer_id, channel=channel, source=source, at=clock.now()))


def opt_in(session: Session, customer_id: int, channel: str, contact_id: int | None = None) -> bool:
    """Lifts the customer-wide opt-out of the channel, and the contact's own when one is named
    (START from a number lifts what that number's STOP, or one from before contacts, set)."""
    lifted = session.execute(
        delete(OptOut)
        .where(col(OptOut.customer_id) == customer_id, col(OptOut.channel) == channel)
        .execution_options(synchronize_session=False)
    ).rowcount
    if contact_id is not None:
        lifted += session.execute(
            delete(ContactOptOut)
            .where(col(ContactOptOut.contact_id) == contact_id, col(ContactOptOut.channel) == channel)
            .execution_options(synchronize_session=False)
        ).rowcount
    session.flush()
    return lifted > 0
