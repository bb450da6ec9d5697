"""What the portal shows one customer. Every query here is scoped by the customer id the signed
link names, and nothing else: no id from the URL or a form reaches this module."""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date

from sqlalchemy import select
from sqlmodel import Session, col

from dunning.arrangements import accounts, plans
from dunning.cases.models import Case
from dunning.channels import fee_text
from dunning.clock import Clock
from dunning.contacts import opted_out_channels
from dunning.ledger.models import Customer, Invoice
from dunning.ledger.queries import payments_by_invoice
from dunning.money import to_minor
from dunning.outbox.models import SENT, Message
from dunning.payments.models import PROCESSING, Checkout
from dunning.policies import fees, rate_store
from dunning.policies import service as policy_service
from dunning.policies.document import PlanRules
from dunning.policies.rates import MissingRate
from dunning.records.arrangements import Dispute, Installment, InstallmentPlan, Promise
from dunning.web import installments

log = logging.getLogger(__name__)

CHANNELS = ("email", "sms")  # letters carry the formal notices the law expects: no opting out of those


@dataclass
class Fee:
    label: str
    amount_minor: int


@dataclass
class Account:
    currency: str
    today: date
    invoices: list[Invoice]
    disputed: set[int]
    balance_minor: int
    overdue_minor: int
    fees: list[Fee]
    promise: Promise | None
    plan: tuple[InstallmentPlan, list[Installment]] | None
    plan_counts: list[tuple[int, bool]]  # (number of payments, granted at once)
    min_installment_minor: int | None
    payable: list[Invoice] = field(default_factory=list)  # what Pay now offers: undisputed, not being paid
    processing_minor: int = 0  # online payments the bank has yet to confirm

    @property
    def fees_minor(self) -> int:
        return sum(f.amount_minor for f in self.fees)

    @property
    def total_minor(self) -> int:
        return self.balance_minor + self.fees_minor

    @property
    def pay_default(self) -> set[int]:
        """Pay now chooses the overdue invoices first, or everything it offers when none is overdue."""
        overdue = {i.id for i in self.payable if i.due_on < self.today}
        return overdue or {i.id for i in self.payable}

    @property
    def disputable(self) -> list[Invoice]:
        return [i for i in self.invoices if i.id not in self.disputed]


@dataclass
class Statement:
    customer: Customer
    today: date
    accounts: list[Account]
    rules: PlanRules
    opted_out: frozenset[str]
    reachable: list[str] = field(default_factory=list)


def _fees_claimed(session: Session, customer: Customer, currency: str) -> bool:
    """Fees show once a notice claiming them went out in the case's current episode, never before:
    the portal must not ask for more than the customer was told."""
    case = session.execute(
        select(Case).where(col(Case.customer_id) == customer.id, col(Case.currency) == currency)
    ).scalar_one_or_none()
    if case is None:
        return False
    return (
        session.execute(
            select(col(Message.id))
            .where(
                col(Message.case_id) == case.id,
                col(Message.show_fees).is_(True),
                col(Message.status) == SENT,
                col(Message.created_at) >= case.opened_at,
            )
            .limit(1)
        ).first()
        is not None
    )


def _fees(
    session: Session,
    customer: Customer,
    currency: str,
    invoices: list[Invoice],
    disputed: set[int],
    today: date,
    jurisdiction: str,
) -> list[Fee]:
    """One row per invoice and kind of fee, as of today, in the customer's words."""
    if not _fees_claimed(session, customer, currency):
        return []
    late = [i for i in invoices if i.id not in disputed]
    paid = payments_by_invoice(session, {i.id for i in late})
    try:
        statement = fees.late_payment_fees(
            [fees.Debt(i.number, i.due_on, i.balance_minor, tuple(paid.get(i.id, ()))) for i in late],
            currency=currency,
            customer_kind=customer.kind,
            country=customer.country,
            as_of=today,
            book=rate_store.load_book(session),
            jurisdiction=jurisdiction,
        )
    except MissingRate as missing:  # the notice waits for the rate too; nothing is shown rather than a guess
        log.warning("portal of customer %s shows no fees: %s", customer.external_id, missing.message)
        return []
    writer = fee_text.Writer.of(customer.language, customer.country, currency)
    rows: dict[tuple[str, str], Fee] = {}
    for line in statement.lines:
        row = rows.setdefault((line.invoice, line.kind), Fee(writer.label(line), 0))
        row.amount_minor += line.amount_minor
    return list(rows.values())


def load(session: Session, clock: Clock, customer: Customer) -> Statement:
    today = accounts.local_today(clock, customer)
    policy = policy_service.policy_for(session, customer.policy_name)
    invoices = list(
        session.execute(
            select(Invoice)
            .where(
                col(Invoice.customer_id) == customer.id, col(Invoice.balance_minor) > 0, col(Invoice.voided).is_(False)
            )
            .order_by(col(Invoice.currency), col(Invoice.due_on), col(Invoice.id))
        ).scalars()
    )
    disputed = set(
        session.execute(
            select(col(Dispute.invoice_id)).where(
                col(Dispute.customer_id) == customer.id, col(Dispute.status) == "open"
            )
        ).scalars()
    )
    open_promises = {
        p.currency: p
        for p in session.execute(
            select(Promise).where(col(Promise.customer_id) == customer.id, col(Promise.status) == "open")
        ).scalars()
    }
    active_plans = {p.currency: (p, rows) for p, rows in plans.list_for(session, customer.id) if p.status == "active"}
    processing: dict[str, int] = defaultdict(int)  # online payments the bank is still confirming
    being_paid: set[int] = set()
    for currency, amount, ids in session.execute(
        select(col(Checkout.currency), col(Checkout.amount_minor), col(Checkout.invoice_ids)).where(
            col(Checkout.customer_id) == customer.id, col(Checkout.status) == PROCESSING
        )
    ):
        processing[currency] += amount
        being_paid.update(ids)
    out = []
    for currency in sorted({i.currency for i in invoices}):
        mine = [i for i in invoices if i.currency == currency]
        undisputed = [i for i in mine if i.id not in disputed]
        balance = sum(i.balance_minor for i in undisputed)
        counts = (
            [
                (
                    n,
                    not installments.policy_problems(
                        balance, n, today, currency=currency, today=today, rules=policy.plans
                    ),
                )
                for n in range(2, installments.MAX_OFFERED + 1)
            ]
            if balance
            else []
        )
        out.append(
            Account(
                currency=currency,
                today=today,
                invoices=mine,
                disputed=disputed,
                balance_minor=balance,
                overdue_minor=sum(i.balance_minor for i in undisputed if i.due_on < today),
                fees=_fees(session, customer, currency, mine, disputed, today, policy.jurisdiction),
                promise=open_promises.get(currency),
                plan=active_plans.get(currency),
                plan_counts=counts,
                min_installment_minor=to_minor(minimum, currency)
                if (minimum := policy.plans.min_installment_amount.get(currency)) is not None
                else None,
                payable=[i for i in undisputed if i.id not in being_paid],
                processing_minor=processing[currency],
            )
        )
    opted = opted_out_channels(session, customer.id)
    reachable = [c for c in CHANNELS if (customer.email if c == "email" else customer.phone)]
    return Statement(customer, today, out, policy.plans, opted, reachable)
