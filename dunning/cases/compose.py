"""Just before a message goes out: check it should still go, then render exactly what will be sent.

The cycle planned the message minutes or days ago; since then the customer may have paid, said
STOP, disputed an invoice or promised a date. Every check the plan passed is made again here, on
the data as it is now, and the notice lists the invoices as they stand now (new overdue invoices
join it, paid ones leave it).
"""

from __future__ import annotations

import secrets
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlmodel import Session, col

from dunning import audit
from dunning.cases.events import publish_for_case
from dunning.cases.models import CLOSED, ESCALATED, PAUSED, Case, stored_id
from dunning.cases.service import rewind_undelivered_step
from dunning.channels import fee_text, render
from dunning.channels.contract import Envelope
from dunning.channels.email import MailIdentity
from dunning.clock import Clock
from dunning.config import Settings
from dunning.contacts import OptOut, contact_opt_outs
from dunning.contacts.models import Contact
from dunning.contacts.roles import DEFAULT_TO, copied, holders
from dunning.errors import InvalidInput, NotFound
from dunning.ledger.models import Customer, Invoice
from dunning.ledger.queries import payments_by_invoice
from dunning.links import portal_url, unsubscribe_url
from dunning.outbox.dispatch import Prepared
from dunning.outbox.models import CANCELLED, FAILED, QUEUED, REJECTED, SENT, Message
from dunning.outbox.service import cancel_for_case
from dunning.policies import calendar, fees, rate_store
from dunning.policies import service as policy_service
from dunning.policies.document import Policy, load_default_policy
from dunning.policies.rates import MissingRate, RateBook
from dunning.records.arrangements import Dispute, Promise

HANDOFF = "agency_handoff"
OPT_OUT_CONFIRMATION = "opt_out_confirmation"
FORMAL = ("formal_notice", "registered_letter", HANDOFF)
DEADLINE_DAYS = 8  # the usual delay a formal notice gives (eight days in French practice)
PAUSE_RECHECK = timedelta(hours=1)
HANDOFF_RECHECK = timedelta(minutes=15)
RATE_RECHECK = timedelta(hours=1)  # a notice waiting for a reference rate looks again this often


@dataclass
class Snapshot:
    """Everything the re-checks and the rendering read, loaded for a whole dispatch batch in a
    handful of queries (a batch of 200 costs the same few round trips as one message), so that
    deciding and rendering need no database: the dispatcher does them outside any transaction."""

    customers: dict[int, Customer]
    cases: dict[int, Case]
    opted_out: dict[int, set[str]]  # customer-wide
    contacts: dict[int, list[Contact]]  # customer id -> its contacts, oldest first
    contact_opted_out: dict[int, set[str]]  # contact id -> its own opt-outs
    disputed: set[int]  # invoice ids with an open dispute
    open_invoices: dict[tuple[int, str], list[Invoice]]  # (customer, currency) -> oldest due first
    texted: set[int]  # customers who were already sent a text (and so had the opt-out line)
    agency_status: dict[tuple[int | None, str | None, int | None], str]  # (case, path, step) -> the case file's status
    policies: dict[str | None, Policy | None]  # by customer.policy_name; None: no such policy
    rates: RateBook  # the shipped reference-rate histories with the team's additions
    payments: dict[int, list[tuple[date, int]]] = field(default_factory=dict)  # invoice id -> [(received_on, amount)]
    sent_history: dict[int, list[Message]] = field(default_factory=dict)  # for case files: what was tried
    broken_promises: dict[int, list[Promise]] = field(default_factory=dict)


def snapshot(session: Session, messages: list[Message]) -> Snapshot:
    customer_ids = {m.customer_id for m in messages}
    case_ids = {m.case_id for m in messages if m.case_id is not None}
    customers = {c.id: c for c in session.execute(select(Customer).where(col(Customer.id).in_(customer_ids))).scalars()}
    opted: dict[int, set[str]] = defaultdict(set)
    for customer_id, channel in session.execute(
        select(col(OptOut.customer_id), col(OptOut.channel)).where(col(OptOut.customer_id).in_(customer_ids))
    ):
        opted[customer_id].add(channel)
    contacts: dict[int, list[Contact]] = defaultdict(list)
    for contact in session.execute(
        select(Contact).where(col(Contact.customer_id).in_(customer_ids)).order_by(col(Contact.id))
    ).scalars():
        contacts[contact.customer_id].append(contact)
    invoices: dict[tuple[int, str], list[Invoice]] = defaultdict(list)
    for invoice in session.execute(
        select(Invoice)
        .where(
            col(Invoice.customer_id).in_(customer_ids), col(Invoice.balance_minor) > 0, col(Invoice.voided).is_(False)
        )
        .order_by(col(Invoice.due_on), col(Invoice.id))
    ).scalars():
        invoices[(invoice.customer_id, invoice.currency)].append(invoice)
    snap = Snapshot(
        customers=customers,
        cases={c.id: c for c in session.execute(select(Case).where(col(Case.id).in_(case_ids))).scalars()},
        opted_out=opted,
        contacts=contacts,
        contact_opted_out=contact_opt_outs(session, (stored_id(c) for rows in contacts.values() for c in rows)),
        disputed=set(
            session.execute(
                select(col(Dispute.invoice_id)).where(
                    col(Dispute.customer_id).in_(customer_ids), col(Dispute.status) == "open"
                )
            ).scalars()
        ),
        open_invoices=invoices,
        texted=_texted(session, {m.customer_id for m in messages if m.channel == "sms"}),
        agency_status=_case_file_status(session, messages),
        policies={name: _policy(session, name) for name in {c.policy_name for c in customers.values()}},
        rates=rate_store.load_book(session),
        payments=payments_by_invoice(
            session,
            {stored_id(i) for rows in invoices.values() for i in rows} if any(m.show_fees for m in messages) else set(),
        ),
    )
    _agency_history(session, snap, {m.customer_id for m in messages if m.channel == "agency"})
    return snap


def _texted(session: Session, customer_ids: set[int]) -> set[int]:
    if not customer_ids:
        return set()
    return set(
        session.execute(
            select(col(Message.customer_id))
            .where(
                col(Message.customer_id).in_(customer_ids), col(Message.channel) == "sms", col(Message.status) == SENT
            )
            .distinct()
        ).scalars()
    )


def _case_file_status(
    session: Session, messages: list[Message]
) -> dict[tuple[int | None, str | None, int | None], str]:
    """For each customer's notice of a hand-off: where the case file of the same step stands."""
    cases = {m.case_id for m in messages if m.kind == HANDOFF and m.channel != "agency" and m.case_id}
    if not cases:
        return {}
    return {
        (case_id, path, step): status
        for case_id, path, step, status in session.execute(
            select(col(Message.case_id), col(Message.path_name), col(Message.step_index), col(Message.status)).where(
                col(Message.case_id).in_(cases), col(Message.channel) == "agency"
            )
        )
    }


def _agency_history(session: Session, snap: Snapshot, customer_ids: set[int]) -> None:
    if not customer_ids:
        return
    for m in session.execute(
        select(Message)
        .where(col(Message.customer_id).in_(customer_ids), col(Message.status) == SENT)
        .order_by(col(Message.sent_at))
    ).scalars():
        snap.sent_history.setdefault(m.customer_id, []).append(m)
    for p in session.execute(
        select(Promise).where(col(Promise.customer_id).in_(customer_ids), col(Promise.status) == "broken")
    ).scalars():
        snap.broken_promises.setdefault(p.customer_id, []).append(p)


def _policy(session: Session, name: str | None) -> Policy | None:
    try:
        return policy_service.policy_for(session, name)
    except NotFound:  # nothing stored yet (messages due before any cycle ran): the shipped default
        return load_default_policy()
    except InvalidInput:  # a policy name nobody saved: that customer's messages fail, not the batch
        return None


class Composer:
    def __init__(self, settings: Settings, clock: Clock):
        self.settings, self.clock = settings, clock
        self.documents = settings.var_dir / "documents"
        self.mail_domain = MailIdentity.from_settings(settings).domain
        self.creditor = render.creditor_from_settings(settings)

    def preload(self, session: Session, messages: list[Message]) -> Snapshot:
        """Read what `decide` needs for all of `messages` at once (the dispatcher's batch)."""
        return snapshot(session, messages)

    # -- the re-checks --------------------------------------------------------------------------

    @staticmethod
    def _policy(snap: Snapshot, customer: Customer) -> Policy:
        policy = snap.policies.get(customer.policy_name)
        if policy is None:
            raise InvalidInput(
                f"customer {customer.external_id} follows policy {customer.policy_name!r}, which does not exist"
            )
        return policy

    def prepare(self, session: Session, message: Message, now: datetime) -> Prepared:
        """One message on its own (an answer rendered for a reply, a preview)."""
        return self.compose(snapshot(session, [message]), message, now)

    def compose(self, snap: Snapshot, message: Message, now: datetime) -> Prepared:
        """Send (rendered), cancel or postpone; from the snapshot alone, writing nothing."""
        customer = snap.customers[message.customer_id]
        transactional = bool(message.context.get("transactional"))  # a reply to the customer (STOP, HELP)
        case = snap.cases.get(message.case_id) if message.case_id else None
        if case is not None and not transactional:
            if case.state == CLOSED:
                return Prepared("cancel", "the case closed before this message went out")
            # The hand-off itself (the case file and the customer's notice of it) still goes.
            if case.state == ESCALATED and message.kind != HANDOFF:
                return Prepared("cancel", "the case went to the collection agency")
            if case.state == PAUSED:
                # held back, not dropped: if the pause ends in a resume, this step still goes out
                until = max(case.paused_until or now, now) + PAUSE_RECHECK
                return Prepared("postpone", f"case paused ({case.pause_reason})", until=until)
        # Consent is checked for every kind of message, answers and confirmations included: one
        # queued before an opt-out never goes after it. The single exception is the confirmation
        # of that opt-out itself (FCC 24-24 allows one).
        if message.channel != "agency" and message.template != OPT_OUT_CONFIRMATION:
            if message.channel in snap.opted_out.get(stored_id(customer), ()):
                return Prepared("cancel", f"the customer opted out of {message.channel}")
            if message.channel in customer.refused_channels:
                return Prepared("cancel", f"{message.channel} is refused by this customer")
        if message.channel in ("email", "sms") and not transactional:  # an answer to the customer goes at once
            contact = self._policy(snap, customer).contact
            window = (contact.window, contact.business_days_only, customer.country)
            if not calendar.in_window(now, customer.timezone, *window):
                until = calendar.next_contact_time(now, customer.timezone, *window)
                return Prepared("postpone", "outside the customer's contact window", until=until)
        if message.kind == HANDOFF and message.channel != "agency" and case is not None:
            waiting = self._handoff_notice(snap, message, now)
            if waiting is not None:
                return waiting
        to, cc = self.addressed(snap, message)
        if message.channel != "agency" and not to:
            return Prepared(
                "cancel",
                f"no contact of this customer can receive it by {message.channel}"
                " (no address, marked invalid or opted out)",
            )
        invoices = self._invoices(snap, message, customer, now)
        if case is not None and not invoices and not message.context.get("extra"):
            return Prepared("cancel", "nothing overdue is owed any more")
        try:
            return self._render(snap, message, customer, case, invoices, (to, cc), now)
        except MissingRate as missing:
            # Never a guessed statutory rate on a formal notice: it waits, and the team is asked (once).
            return Prepared(
                "postpone", missing.message, until=now + RATE_RECHECK, task=rate_store.missing_task(missing)
            )

    @staticmethod
    def _handoff_notice(snap: Snapshot, message: Message, now: datetime) -> Prepared | None:
        """The customer hears that the agency has the file once the agency has it, not before."""
        sent = snap.agency_status.get((message.case_id, message.path_name, message.step_index))
        if sent is None or sent == SENT:
            return None
        if sent in (FAILED, CANCELLED, REJECTED):
            return Prepared("cancel", f"the case file did not reach the agency ({sent})")
        return Prepared("postpone", "waits for the case file to reach the agency", until=now + HANDOFF_RECHECK)

    def recipient(self, message: Message, customer: Customer, to: list[Contact]) -> str | None:
        """What the message's `recipient` says: the To addresses, a letter's address block."""
        if message.channel == "agency":
            return self.settings.agency_webhook_url or "file-drop"
        if not to:
            return None
        if message.channel == "letter":
            return "\n".join((customer.name, *address_lines(customer, to[0])))
        return ", ".join(c.address_for(message.channel) or "" for c in to)

    @staticmethod
    def addressed(snap: Snapshot, message: Message) -> tuple[list[Contact], list[Contact]]:
        """The contacts it goes to and in copy, as they are now: those holding the step's `to`
        roles (else the primary), with an address on the channel, no invalid mark and no opt-out
        of their own; email copies the `cc` roles, a text or a letter goes to the first one only.
        An answer to a reply goes to the contact who wrote (`contact_id`)."""
        channel, context = message.channel, message.context
        confirming = message.template == OPT_OUT_CONFIRMATION  # the one message an opt-out allows

        def reaches(c: Contact) -> bool:
            return (
                bool(c.address_for(channel))
                and channel not in c.invalid_channels
                and (confirming or channel not in snap.contact_opted_out.get(stored_id(c), ()))
            )

        contacts = snap.contacts.get(message.customer_id, [])
        if context.get("contact_id") is not None:
            return [c for c in contacts if c.id == context["contact_id"] and reaches(c)], []
        to = [c for c in holders(contacts, context.get("to", DEFAULT_TO)) if reaches(c)]
        if channel != "email":
            return to[:1], []
        return to, [c for c in copied(contacts, context.get("cc", ()), to) if reaches(c)]

    @staticmethod
    def _invoices(snap: Snapshot, message: Message, customer: Customer, now: datetime) -> list[Invoice]:
        """The planned invoices still open, plus anything else now overdue in that currency;
        disputed invoices leave the notice while their dispute is open."""
        today = calendar.local_date(now, customer.timezone)
        planned = set(message.invoice_ids)
        # a message without a currency matches no account: it lists no open invoice
        return [
            i
            for i in snap.open_invoices.get((stored_id(customer), message.currency or ""), ())
            if i.id not in snap.disputed and (i.due_on < today or i.id in planned)
        ]

    # -- rendering ------------------------------------------------------------------------------

    def context(
        self,
        session: Session | None,
        snap: Snapshot,
        message: Message,
        customer: Customer,
        case: Case | None,
        invoices: list[Invoice],
        now: datetime,
        to: Contact | None = None,
    ) -> render.NoticeContext:
        """The notice's data (the outbox page previews with it too). `session` is not read: the
        snapshot holds everything. `to`: the (first) contact written to, whose language, address and
        name (under the customer's, on a letter) it takes; by default the primary contact."""
        today = calendar.local_date(now, customer.timezone)
        currency = message.currency or (invoices[0].currency if invoices else "EUR")
        lines = [
            render.InvoiceLine(
                i.number, i.issued_on, i.due_on, i.balance_minor, i.currency, max(0, (today - i.due_on).days)
            )
            for i in invoices
        ]
        statement = None
        if message.show_fees:  # raises MissingRate when a reference rate it needs is not known yet
            statement = fees.late_payment_fees(
                [
                    fees.Debt(i.number, i.due_on, i.balance_minor, tuple(snap.payments.get(stored_id(i), ())))
                    for i in invoices
                ],
                currency=currency,
                customer_kind=customer.kind,
                country=customer.country,
                as_of=today,
                book=snap.rates,
                jurisdiction=self._policy(snap, customer).jurisdiction,
            )
        fee_lines = fee_text.notice_lines(statement, customer.language, customer.country) if statement else []
        portal = portal_url(self.settings, customer, self.clock)  # where Pay now is, with online payment
        deadline = None
        if message.kind in FORMAL:
            deadline = calendar.business_day_on_or_after(today + timedelta(days=DEADLINE_DAYS), customer.country)
        if to is None:
            to = next(iter(self.addressed(snap, message)[0]), None)
        return render.NoticeContext(
            customer=render.Party(
                customer.name,
                (to.language if to else None) or customer.language,
                customer.country,
                customer.kind,
                to.email if to else customer.email,
                to.phone if to else customer.phone,
                address_lines(customer, to),
            ),
            creditor=self.creditor,
            lines=lines,
            currency=currency,
            total_minor=sum(line.balance_minor for line in lines),
            reference=f"{customer.external_id}-{case.id if case else 0}-{message.step_key or message.kind}",
            issued_on=today,
            fees=fee_lines,
            fees_total_minor=sum(f.amount_minor for f in fee_lines),
            claimed_fees=[line.as_data(currency) for line in statement.lines] if statement else [],
            deadline=deadline,
            interest_rate=statement.current_rate if statement else None,
            portal_url=portal,
            payment_url=f"{portal}#account-{currency}" if self.settings.online_payment else self.settings.payment_url,
            unsubscribe_url=unsubscribe_url(self.settings, customer, message.channel, self.clock),
            extra=dict(message.context.get("extra", {})),
        )

    def _render(
        self,
        snap: Snapshot,
        message: Message,
        customer: Customer,
        case: Case | None,
        invoices: list[Invoice],
        addressed: tuple[list[Contact], list[Contact]],
        now: datetime,
    ) -> Prepared:
        to, cc = addressed
        ctx = self.context(None, snap, message, customer, case, invoices, now, to[0] if to else None)
        token = message.reply_token or secrets.token_urlsafe(12)
        recipient = self.recipient(message, customer, to)
        stored = {
            "recipient": recipient,
            "reply_token": token,
            "recipients": [
                {"contact_id": c.id, "name": c.name, "address": c.address_for(message.channel), "as": role}
                for role, group in (("to", to), ("cc", cc))
                for c in group
            ],
            "context": {
                **message.context,
                "invoices": [line.number for line in ctx.lines],
                "total_minor": ctx.total_minor,
                "fees_minor": ctx.fees_total_minor,
                "fees": ctx.claimed_fees,
                "issued_on": ctx.issued_on.isoformat(),
            },
        }
        metadata: dict[str, Any] = {
            "case_id": message.case_id,
            "customer_external_id": customer.external_id,
            "reference": ctx.reference,
            "recipient_name": customer.name,
            "unsubscribe_url": ctx.unsubscribe_url,
            "registered": message.kind == "registered_letter",
        }
        envelope: dict[str, Any] = dict(
            message_id=message.id, channel=message.channel, recipient=recipient, metadata=metadata
        )
        if message.channel == "email":
            envelope.update(recipient=to[0].email, to=tuple(c.email for c in to), cc=tuple(c.email for c in cc))
            metadata["recipient_names"] = {c.email: c.name or customer.name for c in (*to, *cc)}
        if message.channel == "email":
            rendered = render.render_email(message.template, ctx)
            stored.update(subject=rendered.subject, body_text=rendered.text, body_html=rendered.html)
            # The Message-ID comes from the stored reply token, so a second attempt (a retry, or a
            # resend a person chose for a message in doubt) carries the same one and the
            # recipient's mail system can recognise the copy.
            headers = {
                "Message-ID": f"<dunning.{message.id}.{token}@{self.mail_domain}>",
                "X-Dunning-Message-Id": str(message.id),
            }
            envelope.update(
                subject=rendered.subject, text=rendered.text, html=rendered.html, reply_to=token, headers=headers
            )
        elif message.channel == "sms":
            text = self.sms_text(snap, message, customer, ctx)
            stored.update(body_text=text)
            envelope.update(text=text)
        elif message.channel in ("letter", "agency"):
            pdf = render.render_letter_pdf(message.template, ctx, self.documents / f"message-{message.id}.pdf")
            stored.update(subject=ctx.reference, pdf_path=str(pdf), body_text=None)
            envelope.update(pdf_path=pdf, subject=ctx.reference)
            if message.channel == "agency":
                envelope.update(payload=case_file(snap, customer, case, invoices, ctx))
        return Prepared("send", stored=stored, envelope=Envelope(**envelope))

    @staticmethod
    def sms_text(snap: Snapshot, message: Message, customer: Customer, ctx: render.NoticeContext) -> str:
        """The text as it goes out: the first text a customer gets says how to stop them (answers
        to the customer excepted); the outbox page previews it the same way."""
        text = render.render_sms(message.template, ctx)
        if not message.context.get("transactional") and customer.id not in snap.texted:
            text = render.with_opt_out_line(text, customer.language)
        return text

    # -- after the send -------------------------------------------------------------------------

    follow_up = frozenset({"agency"})  # a case file that reached the agency escalates the case
    slow_channels = frozenset({"letter", "agency"})  # rendered to PDF

    def after_unsent(self, session: Session, message: Message) -> None:
        if message.case_id is not None and message.step_index is not None:
            rewind_undelivered_step(session, self.clock, message.case_id, message.path_name, message.step_index)

    def after_sent(self, session: Session, message: Message) -> None:
        if message.channel == "agency" and message.case_id:
            case = session.get(Case, message.case_id)
            assert case is not None, "a message's case is never deleted"
            if case.state != ESCALATED:
                case.state, case.updated_at = ESCALATED, self.clock.now()
                session.add(case)
                cancel_for_case(
                    session, self.clock, stored_id(case), "the case went to the collection agency", keep_kind=HANDOFF
                )
                audit.record(
                    session,
                    self.clock,
                    actor="dispatch",
                    action="case.escalated",
                    subject_type="case",
                    subject_id=case.id,
                    message_id=message.id,
                )
                publish_for_case(session, self.clock, "case.escalated", case, message_id=message.id)
            # The customer's notice of the hand-off was held back for this: it may go now.
            session.execute(
                update(Message)
                .where(
                    col(Message.case_id) == message.case_id,
                    col(Message.path_name) == message.path_name,
                    col(Message.step_index) == message.step_index,
                    col(Message.kind) == HANDOFF,
                    col(Message.status) == QUEUED,
                )
                .values(send_after=self.clock.now())
                .execution_options(synchronize_session=False)
            )


def address_lines(customer: Customer, to: Contact | None) -> tuple[str, ...]:
    """Under the customer's name on a letter: the contact's name when it has its own, then its address."""
    lines = [line for line in ((to.address if to else customer.address) or "").splitlines() if line.strip()]
    if to is not None and to.name and to.name != customer.name:
        lines.insert(0, to.name)
    return tuple(lines)


def case_file(
    snap: Snapshot, customer: Customer, case: Case | None, invoices: list[Invoice], ctx: render.NoticeContext
) -> dict[str, Any]:
    """What the agency needs to take the file over: who, what is owed, and what was already tried."""
    history = snap.sent_history.get(stored_id(customer), [])
    broken = snap.broken_promises.get(stored_id(customer), [])
    return {
        "customer": {
            "external_id": customer.external_id,
            "name": customer.name,
            "kind": customer.kind,
            "country": customer.country,
            "language": customer.language,
        },
        "contacts": {"email": customer.email, "phone": customer.phone, "address": customer.address},
        "currency": ctx.currency,
        "total_minor": ctx.total_minor,
        **fees_claimed(history, case, ctx),
        "invoices": [
            {
                "number": i.number,
                "issued_on": i.issued_on,
                "due_on": i.due_on,
                "total_minor": i.total_minor,
                "balance_minor": i.balance_minor,
            }
            for i in invoices
        ],
        "messages": [
            {"sent_at": m.sent_at, "channel": m.channel, "kind": m.kind, "subject": m.subject} for m in history
        ],
        "broken_promises": [{"promised_on": p.promised_on, "amount_minor": p.amount_minor} for p in broken],
        "case": {"id": case.id if case else None, "opened_at": case.opened_at if case else None},
    }


def fees_claimed(history: list[Message], case: Case | None, ctx: render.NoticeContext) -> dict[str, Any]:
    """The statutory fees the case's latest notice claimed (a hand-off step usually states none of
    its own): what the agency may pursue, as the customer was told it, and as of which day."""
    if ctx.fees_total_minor:
        return {"fees_minor": ctx.fees_total_minor, "fees": ctx.claimed_fees, "fees_as_of": ctx.issued_on}
    claimed = [
        m
        for m in history
        if case is not None
        and m.case_id == case.id
        and m.currency == ctx.currency
        and m.show_fees
        and m.context.get("fees_minor")
    ]
    if not claimed:
        return {"fees_minor": 0, "fees": [], "fees_as_of": None}
    latest = claimed[-1]  # history is in the order sent
    return {
        "fees_minor": latest.context["fees_minor"],
        "fees": latest.context.get("fees", []),
        "fees_as_of": latest.context.get("issued_on"),
    }
