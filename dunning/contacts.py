"""Per-channel opt-outs (STOP, unsubscribe links, the portal). Carrier practice: after STOP, nothing
more on that channel until the customer opts in again."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import UniqueConstraint, select
from sqlmodel import Field, Session, SQLModel

from dunning.clock import Clock
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
    return frozenset(session.execute(select(OptOut.channel).where(OptOut.customer_id == customer_id)).scalars())


def opt_out(session: Session, clock: Clock, customer_id: int, channel: str, source: str) -> bool:
    """True when this is news (the first STOP gets a confirmation, a repeated one does not). Two at
    the same moment (a double click, a mail client that follows the link twice) make one record:
    the second finds it, or meets the unique key and is told it is old news."""
    existing = session.execute(select(OptOut.id).where(OptOut.customer_id == customer_id,
                                                       OptOut.channel == channel)).first()
    if existing is not None:
        return False
    return insert_once(session, OptOut(customer_id=customer_id, channel=channel, source=source, at=clock.now()))


def opt_in(session: Session, customer_id: int, channel: str) -> bool:
    existing = session.execute(select(OptOut).where(OptOut.customer_id == customer_id,
                                                    OptOut.channel == channel)).scalar_one_or_none()
    if existing is None:
        return False
    session.delete(existing)
    session.flush()
    return True
