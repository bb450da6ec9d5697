"""Building an outbox to dispatch: data through the ledger service, the cycle at the clock's time,
and a Dispatcher with the real transports the Settings configure."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import date, datetime
from typing import Any

from sqlalchemy import insert, select

from dunning.cases.compose import Composer
from dunning.cases.cycle import CycleReport, run_cycle
from dunning.channels.transports import build_transports
from dunning.config import Settings
from dunning.contacts.models import Contact
from dunning.ledger import service as ledger_service
from dunning.ledger.batch import Batch
from dunning.ledger.models import Invoice
from dunning.ledger.schemas import CustomerIn, InvoiceIn
from dunning.outbox.dispatch import Dispatcher
from dunning.outbox.models import Message
from dunning.policies import service as policy_service
from dunning.tasks.models import Task
from tests.builders import customer, invoice

ADDRESS = "12 rue de la Paix\n75002 Paris\nFrance"
LEEDS = "Unit 4, Riverside Park\nLeeds LS1 4AB\nUnited Kingdom"
# An email reminder, then a registered letter that waits for a manager's approval.
REMINDER_THEN_REGISTERED = """
name: default
bands: [{name: only}]
paths:
  only:
    steps:
      - {key: r1, after_days: 1, kind: reminder, channels: [email]}
      - {key: reg, after_days: 3, kind: registered_letter, channels: [letter], fees: true}
contact: {business_days_only: false, min_days_between_contacts: 1}
"""


def outbox_settings(settings: Settings, **overrides: Any) -> Settings:
    values = dict(
        public_url="https://dunning.example.com",
        smtp_from_address="collections@example.com",
        smtp_from_name="Example Collections",
        smtp_reply_domain="replies.example.com",
    )
    values.update(overrides)
    return settings.model_copy(update=values)


def smtp(port: int) -> dict[str, Any]:
    return dict(smtp_host="127.0.0.1", smtp_port=port, smtp_security="none", smtp_timeout_seconds=5)


def seed(db, clock, customers: list[dict], invoices: list[dict]) -> dict[str, int]:
    """Customers and invoices as an accounting system pushes them; returns external id -> customer id."""
    with db.session() as session:
        ledger_service.push_customers(session, clock, Batch.of(CustomerIn, [CustomerIn(**c) for c in customers]))
        ledger_service.push_invoices(session, clock, Batch.of(InvoiceIn, [InvoiceIn(**i) for i in invoices]))
        return ledger_service.customer_ids(session, [c["external_id"] for c in customers])


def use_policy(db, clock, document: str) -> None:
    with db.session() as session:
        policy_service.save(session, clock, "default", document, "test")


def cycle(db, clock, settings) -> CycleReport:
    with db.session() as session:
        return run_cycle(session, clock, settings)


def dispatch(db, clock, settings, **kwargs: Any) -> Counter:
    dispatcher = Dispatcher(db, clock, build_transports(settings), Composer(settings, clock), **kwargs)

    async def go() -> Counter:
        try:
            return await dispatcher.drain()
        finally:
            await dispatcher.close()

    return asyncio.run(go())


def messages(db, **where: Any) -> list[Message]:
    with db.session() as session:
        stmt = select(Message).order_by(Message.id)
        for name, value in where.items():
            stmt = stmt.where(getattr(Message, name) == value)
        return list(session.execute(stmt).scalars())


def tasks(db, **where: Any) -> list[Task]:
    with db.session() as session:
        stmt = select(Task).order_by(Task.id)
        for name, value in where.items():
            stmt = stmt.where(getattr(Task, name) == value)
        return list(session.execute(stmt).scalars())


def contact_row(db, customer_id: int, external_id: str = "primary") -> Contact:
    """One of the customer's contacts; by default the one of its own email, phone and address."""
    with db.session() as session:
        return session.execute(
            select(Contact).where(Contact.customer_id == customer_id, Contact.external_id == external_id)
        ).scalar_one()


def plan_emails(db, clock, send_after: datetime, n: int) -> None:
    """n customers, one overdue invoice each, and a queued reminder each, inserted as the cycle would."""
    ids = seed(
        db,
        clock,
        [customer(f"K{i:05d}") for i in range(n)],
        [invoice(f"KI{i:05d}", f"K{i:05d}", due=date(2026, 2, 20)) for i in range(n)],
    )
    with db.session() as session:
        invoices = dict(session.execute(select(Invoice.customer_id, Invoice.id)).all())
        session.execute(
            insert(Message.__table__),
            [
                {
                    "dedupe_key": f"crash:{cid}",
                    "case_id": None,
                    "customer_id": cid,
                    "currency": "EUR",
                    "channel": "email",
                    "kind": "reminder",
                    "template": "reminder",
                    "status": "queued",
                    "send_after": send_after,
                    "requires_approval": False,
                    "show_fees": False,
                    "invoice_ids": [invoices[cid]],
                    "amount_minor": 10_000,
                    "context": {},
                    "attempts": 0,
                    "created_at": send_after,
                    "updated_at": send_after,
                }
                for cid in ids.values()
            ],
        )
