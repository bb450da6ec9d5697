"""Acting on a reply: read it, store it, do what it asks when we are sure, else hand it to a person.

What a reading leads to is decided by `routing.route` (pure): only a confident, unconditional
reading of the whole debt, from a sender we can place (an SMS from the customer's number, or an
email answering a message of ours that no provider failed), acts by itself; everything else
becomes a task with what was read, so the team starts from a suggestion rather than from scratch.
Opt-outs are read generously and honoured at once, whoever sent them (fail safe): one
confirmation on the channel the reply came by, then silence on the channels named until the
customer opts in again; HELP says who we are and how to reach a person.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from sqlalchemy import select
from sqlmodel import Session, col

from dunning import audit
from dunning.arrangements import accounts, away, disputes, notices, payment_checks, promises
from dunning.cases.models import Case
from dunning.clock import Clock
from dunning.config import Settings
from dunning.contacts import contact_opt_outs, opt_in, opt_out, opted_out_channels
from dunning.errors import DomainError
from dunning.events.publish import publish
from dunning.ledger.models import Customer, Invoice
from dunning.money import from_minor, to_minor
from dunning.records.replies import InboundMessage
from dunning.replies import answers
from dunning.replies import attachments as stored_files
from dunning.replies.intents import Understanding, out_of_office
from dunning.replies.language import read_reply
from dunning.replies.mail import Attachment
from dunning.replies.matching import Match
from dunning.replies.routing import Route, route
from dunning.tasks.models import Task
from dunning.tasks.service import open_task


@dataclass
class Incoming:
    channel: str  # sms | email
    sender: str
    text: str  # what is read: for email, the new part of the reply only
    raw_text: str
    received_at: datetime
    provider_id: str | None = None
    recipient: str | None = None
    subject: str | None = None
    attachments: list[Attachment] = field(default_factory=list)
    # Email only: whether the mail may act by itself (trust.judge), and why not.
    trusted: bool = True
    untrusted_why: str | None = None
    is_autoreply: bool = False
    return_text: str | None = None  # the autoreply's own "back on ..." phrase, when the mail reader found one

    def __post_init__(self) -> None:
        # Whatever arrives is kept, but as text a database can store: PostgreSQL refuses NUL
        # characters, which a binary body mislabelled as text brings in.
        for name in ("sender", "text", "raw_text", "recipient", "subject"):
            value = getattr(self, name)
            if isinstance(value, str) and "\x00" in value:
                setattr(self, name, value.replace("\x00", ""))


REPLY_TEXT_IN_EVENTS = 5000  # characters of what the customer wrote, in reply.received


@dataclass
class Handled:
    inbound: InboundMessage
    answer: str | None  # the SMS answer (TwiML text); None: say nothing
    duplicate: bool = False


@dataclass
class _Outcome:
    action: str
    answer: str | None = None
    task: Task | None = None
    promise_id: int | None = None
    dispute_id: int | None = None
    answer_message_id: int | None = None


def handle(session: Session, clock: Clock, settings: Settings, incoming: Incoming, match: Match) -> Handled:
    key = f"{incoming.channel}:{incoming.provider_id}"[:300] if incoming.provider_id else None
    if key is not None:
        seen = session.execute(select(InboundMessage).where(col(InboundMessage.dedupe_key) == key)).scalar_one_or_none()
        if seen is not None:  # the provider retried: same answer, nothing done twice
            return Handled(seen, seen.answer_text, duplicate=True)

    customer, case = match.customer, match.case
    tz = customer.timezone if customer else "UTC"
    language, understanding = read_reply(
        incoming.text,
        customer_language=customer.language if customer else None,
        received_at=incoming.received_at,
        tz=tz,
        channel=incoming.channel,
        currency=case.currency if case else None,
    )
    # An autoreply (told by its headers) is read for its return date only.
    autoreply = out_of_office(
        incoming.is_autoreply,
        incoming.return_text or incoming.text,
        lang=language,
        received_at=incoming.received_at,
        tz=tz,
    )
    if autoreply is not None:
        understanding = autoreply
    row = InboundMessage(
        channel=incoming.channel,
        dedupe_key=key,
        sender=incoming.sender[:320],
        recipient=(incoming.recipient or "")[:320] or None,
        customer_id=customer.id if customer else None,
        case_id=case.id if case else None,
        contact_id=match.contact.id if match.contact else None,
        message_id=match.message.id if match.message else None,
        matched_by=match.matched_by,
        language=language,
        subject=(incoming.subject or "")[:500] or None,
        raw_text=incoming.raw_text,
        reply_text=incoming.text,
        intent=understanding.intent,
        confidence=understanding.confidence,
        extracted=understanding.to_dict(),
        received_at=incoming.received_at,
    )
    session.add(row)
    session.flush()
    if incoming.attachments:
        row.attachments = stored_files.keep(settings.var_dir, row.id, incoming.attachments)

    act = _Act(session, clock, settings, incoming, match, understanding, row, language)
    outcome = act.run()
    if row.attachments:
        outcome.task = act.list_attachments(outcome.task)
    row.action, row.answer_text = outcome.action, outcome.answer
    row.task_id = outcome.task.id if outcome.task else None
    row.promise_id, row.dispute_id, row.answer_message_id = (
        outcome.promise_id,
        outcome.dispute_id,
        outcome.answer_message_id,
    )
    session.add(row)
    session.flush()
    audit.record(
        session,
        clock,
        actor=f"customer:{incoming.channel}",
        action="reply.received",
        subject_type="customer",
        subject_id=(customer.external_id if customer else incoming.sender)[:200],
        inbound_id=row.id,
        intent=understanding.intent,
        confidence=understanding.confidence,
        action_taken=outcome.action,
        matched_by=match.matched_by,
        trusted=incoming.trusted,
        untrusted_why=incoming.untrusted_why,
        route=act.route.label if act.route else None,
    )
    publish(
        session,
        clock,
        "reply.received",
        customer_id=row.customer_id,
        case_id=row.case_id,
        customer=customer.external_id if customer else None,
        reply_id=row.id,
        channel=row.channel,
        message_id=row.message_id,
        intent=row.intent,
        action=row.action,
        task_id=row.task_id,
        text=(row.reply_text or "")[:REPLY_TEXT_IN_EVENTS],
    )
    return Handled(row, outcome.answer)


class _Act:
    def __init__(
        self,
        session: Session,
        clock: Clock,
        settings: Settings,
        incoming: Incoming,
        match: Match,
        understanding: Understanding,
        row: InboundMessage,
        language: str,
    ):
        self.session, self.clock, self.settings = session, clock, settings
        self.incoming, self.match, self.u, self.row, self.language = incoming, match, understanding, row, language
        self.customer: Customer | None = match.customer
        self.contact = match.contact  # who wrote, when the sender is one of the customer's contacts
        self.case: Case | None = match.case
        self.sms = incoming.channel == "sms"
        self.actor = f"customer:{incoming.channel}"
        self.route: Route | None = None

    def run(self) -> _Outcome:
        if self.customer is None:
            return self.unknown_sender()
        self.route = r = route(
            self.u,
            trusted=self.incoming.trusted,
            untrusted_why=self.incoming.untrusted_why,
            balance=self._balance(),
            today=accounts.local_today(self.clock, self.customer),
        )
        if r.opt_out:
            outcome = self.stop(r.opt_out)
            if r.task:
                outcome.task = self.to_person(r.task).task
            return outcome
        if r.action is not None:
            outcome = {
                "promise": self.promise,
                "payment_check": self.already_paid,
                "dispute": self.dispute,
                "callback": self.callback,
                "help": self.help,
                "opt_in": self.start,
                "away": self.away,
            }[r.action]()
        elif r.task is not None:
            outcome = self.to_person(r.task)
        else:
            outcome = _Outcome("no_action")  # an autoreply without a return date
        if self.incoming.is_autoreply or self.u.intent == "out_of_office":
            outcome.answer = None  # never answer a machine: two autoresponders would loop
        if self.incoming.channel in opted_out_channels(self.session, self.customer.id) or (
            self.contact is not None
            and self.incoming.channel in contact_opt_outs(self.session, [self.contact.id]).get(self.contact.id, ())
        ):
            # After STOP, nothing more on that channel until START: the action stands, the answer goes.
            outcome.answer = None
        return outcome

    # -- the intents ----------------------------------------------------------------------------

    def unknown_sender(self) -> _Outcome:
        note = f" ({self.match.note})" if self.match.note else ""
        task = open_task(
            self.session,
            self.clock,
            kind="unknown_sender",
            key=f"unknown_sender:{self.row.id}",
            title=f"Reply from an unknown {self._channel_word()} {self.incoming.sender}{note}"[:300],
            detail=self._detail(),
            inbound_id=self.row.id,
        )
        # Neutral: the number may not be our customer's, so nothing about any debt.
        return _Outcome(
            "unknown_sender", answers.line("unknown_sender", self.language, self.settings) if self.sms else None, task
        )

    def stop(self, channels: tuple[str, ...]) -> _Outcome:
        # The contact who wrote stops hearing from us; a sender we cannot place on one contact
        # (an address none of them has) silences the channel for the whole customer.
        contact_id = self.contact.id if self.contact else None
        news = [
            c
            for c in channels
            if opt_out(
                self.session,
                self.clock,
                self.customer.id,
                c,
                source="sms_stop" if self.sms else "email_reply",
                contact_id=contact_id,
            )
        ]
        if news:
            # What was queued before stays queued and is cancelled when it comes due: the
            # composer checks consent at send time for every kind of message.
            audit.record(
                self.session,
                self.clock,
                actor=self.actor,
                action="contact.opted_out",
                subject_type="customer",
                subject_id=self.customer.external_id,
                channels=news,
                contact=self.contact.external_id if self.contact else None,
                inbound_id=self.row.id,
            )
        if self.incoming.channel not in news:
            # A second STOP gets no answer; an opt-out of another channel is confirmed by nothing
            # sent on the channel the customer asked us to leave.
            return _Outcome("opted_out" if news else "already_opted_out")
        if self.sms:
            return _Outcome("opted_out", self._template("opt_out_confirmation"))
        message = self._queue_email("opt_out_confirmation", force=True)
        return _Outcome("opted_out", answer_message_id=message.id if message else None)

    def start(self) -> _Outcome:
        news = opt_in(
            self.session, self.customer.id, self.incoming.channel, contact_id=self.contact.id if self.contact else None
        )
        if news:
            audit.record(
                self.session,
                self.clock,
                actor=self.actor,
                action="contact.opted_in",
                subject_type="customer",
                subject_id=self.customer.external_id,
                channel=self.incoming.channel,
            )
        answer = answers.line("opted_in", self.language, self.settings) if news and self.sms else None
        return _Outcome("opted_in" if news else "already_opted_in", answer)

    def away(self) -> _Outcome:
        if self.case is None:
            return _Outcome("no_action")
        paused = away.hold(self.session, self.clock, self.case, self.customer, self.u.return_on, self.actor)
        return _Outcome("away_until" if paused else "no_action")

    def help(self) -> _Outcome:
        if self.sms:
            return _Outcome("help_sent", self._template("help"))
        message = self._queue_email("help")
        return _Outcome(
            "help_sent" if message else "help_unanswerable", answer_message_id=message.id if message else None
        )

    def callback(self) -> _Outcome:
        task = open_task(
            self.session,
            self.clock,
            kind="call",
            key=f"callback:{self.row.id}",
            customer_id=self.customer.id,
            case_id=self._case_id(),
            title=f"Call {self._who()} back: asked by {self._channel_word()}"[:300],
            detail=self._detail(),
            inbound_id=self.row.id,
        )
        return _Outcome("call_task", self._line("call"), task)

    def promise(self) -> _Outcome:
        currency = self._currency()
        if currency is None:
            return self.to_person("a promise, but no open balance to attach it to")
        amount = None
        if self.u.amount is not None:
            try:
                amount = to_minor(self.u.amount, currency)
            except ValueError:
                return self.to_person(f"a promise of an amount that cannot be {currency}: {self.u.amount}")
        try:
            recorded = promises.record(
                self.session,
                self.clock,
                customer=self.customer,
                currency=currency,
                promised_on=self.u.promised_date,
                amount_minor=amount,
                source=self.incoming.channel,
                actor=self.actor,
                notify=None if self.sms else "email",
            )
        except DomainError as e:
            return self.to_person(f"a promise we could not record: {e.message}")
        promise = recorded.promise
        outcome = _Outcome(
            "promise_noted" if recorded.over_limit else "promise_recorded",
            promise_id=promise.id,
            task=self._task(recorded.task_id),
        )
        if recorded.confirmation is not None:
            outcome.answer_message_id = recorded.confirmation.id
        if self.sms:
            outcome.answer = (
                self._line("promise_noted")
                if recorded.over_limit
                else self._template("promise_confirmation", promises.confirmation_extra(promise))
            )
        return outcome

    def already_paid(self) -> _Outcome:
        paused = False
        if self.case is not None:
            paused = payment_checks.hold(self.session, self.clock, self.settings, self.case, self.customer, self.actor)
        task = open_task(
            self.session,
            self.clock,
            kind="reply",
            key=f"payment_check:{self.row.id}",
            customer_id=self.customer.id,
            case_id=self._case_id(),
            title=f"Check the payment {self._who()} says was made"[:300],
            detail=self._detail()
            + (f"\n\nThe case is paused until {self.case.paused_until:%Y-%m-%d %H:%M} UTC." if paused else ""),
            inbound_id=self.row.id,
        )
        return _Outcome(
            "payment_check" if paused else "task", self._line("payment_check" if paused else "person"), task
        )

    def dispute(self) -> _Outcome:
        invoice = (
            disputes.find_invoice(self.session, self.customer.id, self.u.invoice_number)
            if self.u.invoice_number
            else None
        )
        if invoice is None:
            task = open_task(
                self.session,
                self.clock,
                kind="dispute",
                key=f"dispute_which:{self.row.id}",
                customer_id=self.customer.id,
                case_id=self._case_id(),
                title=f"Which invoice does {self._who()} dispute?"[:300],
                detail=self._detail(),
                inbound_id=self.row.id,
            )
            return _Outcome("task", self._line("person"), task)
        dispute = disputes.open_dispute(
            self.session,
            self.clock,
            self.settings,
            invoice=invoice,
            reason_code="customer_reply",
            text=self.incoming.text,
            source=self.incoming.channel,
            actor=self.actor,
            existing_ok=True,
        )
        return _Outcome(
            "dispute_opened",
            self._line("dispute", invoice=invoice.number),
            self._task(dispute.task_id),
            dispute_id=dispute.id,
        )

    def to_person(self, why: str) -> _Outcome:
        task = open_task(
            self.session,
            self.clock,
            kind="reply",
            key=f"reply:{self.row.id}",
            customer_id=self.customer.id,
            case_id=self._case_id(),
            title=(f"Read a reply from {self._who()}: {why} (reads as {self.u.intent}, {self.u.confidence:.0%})")[:300],
            detail=self._detail(),
            inbound_id=self.row.id,
            understanding=self.u.to_dict(),
        )
        return _Outcome("task", self._line("person"), task)

    # -- helpers --------------------------------------------------------------------------------

    def list_attachments(self, task: Task | None) -> Task:
        """Remittance advice and the like: kept on disk, listed on the reply's task."""
        listing = "\n".join(
            f"- {a['filename']} ({a['content_type']}, {a['size']} bytes): {a['path']}" for a in self.row.attachments
        )
        if task is None:
            who = self.customer.name if self.customer else self.incoming.sender
            task = open_task(
                self.session,
                self.clock,
                kind="reply",
                key=f"attachments:{self.row.id}",
                customer_id=self.customer.id if self.customer else None,
                case_id=self._case_id(),
                title=f"Attachments from {who}"[:300],
                detail=self._detail(),
                inbound_id=self.row.id,
            )
        task.detail = f"{task.detail or ''}\n\nAttachments:\n{listing}".strip()
        task.data = {**task.data, "attachments": self.row.attachments}
        self.session.add(task)
        return task

    def _who(self) -> str:
        """The customer, and the contact who wrote when it has a name of its own."""
        name = self.contact.name if self.contact else None
        return f"{name} ({self.customer.name})" if name and name != self.customer.name else self.customer.name

    def _template(self, name: str, extra: dict | None = None) -> str:
        return answers.sms_template(
            self.session, self.clock, self.settings, template=name, customer=self.customer, case=self.case, extra=extra
        )

    def _line(self, name: str, **values) -> str | None:
        return answers.line(name, self.language, self.settings, **values) if self.sms else None

    def _queue_email(self, template: str, *, force: bool = False):
        # force: the STOP confirmation goes to the address that has just opted out, once.
        # The answer goes to the contact who wrote, else where the customer's mail goes.
        contact_id = self.contact.id if self.contact and self.contact.email else None
        if not (self.contact and self.contact.email) and not self.customer.email:
            return None
        if not force and "email" not in notices.reachable_channels(self.session, self.customer, contact_id):
            return None
        return notices.queue(
            self.session,
            self.clock,
            dedupe_key=f"reply:{self.row.id}:{template}",
            customer=self.customer,
            case=self.case,
            currency=self.case.currency if self.case else None,
            channel="email",
            template=template,
            extra={"answer": template},
            contact_id=contact_id,
        )

    def _balance(self) -> Decimal | None:
        """What the case owes now, in major units: a promise of less is a partial one."""
        if self.case is None:
            return None
        owed = sum(i.balance_minor for i in accounts.open_invoices(self.session, self.customer.id, self.case.currency))
        return from_minor(owed, self.case.currency) if owed else None

    def _currency(self) -> str | None:
        if self.case is not None:
            return self.case.currency
        # No case yet (nothing overdue): a promise still makes sense if only one currency is owed.
        currencies = set(
            self.session.execute(
                select(col(Invoice.currency)).where(
                    col(Invoice.customer_id) == self.customer.id,
                    col(Invoice.balance_minor) > 0,
                    col(Invoice.voided).is_(False),
                )
            ).scalars()
        )
        return currencies.pop() if len(currencies) == 1 else None

    def _case_id(self) -> int | None:
        return self.case.id if self.case else None

    def _task(self, task_id: int | None) -> Task | None:
        return self.session.get(Task, task_id) if task_id else None

    def _channel_word(self) -> str:
        return "number" if self.sms else "address"

    def _detail(self) -> str:
        u = self.u
        read = [f"intent {u.intent} at {u.confidence:.0%}"]
        if u.promised_date:
            read.append(f"date {u.promised_date.isoformat()}")
        if u.amount is not None:
            read.append(f"amount {u.amount} {u.currency or ''}".strip())
        if u.invoice_number:
            read.append(f"invoice {u.invoice_number}")
        if u.condition:
            read.append(f"on condition: {u.condition}")
        if u.partial:
            read.append("part of the debt")
        if u.installments:
            read.append(f"{u.installments} installments")
        if u.months:
            read.append(f"over {u.months} months")
        if u.return_on:
            read.append(f"back on {u.return_on.isoformat()}")
        if u.opt_out_channels:
            read.append("stopped: " + ", ".join(u.opt_out_channels))
        if u.also:
            read.append("also reads as " + ", ".join(u.also))
        reasons = f"\nWhy not sure: {'; '.join(u.reasons)}" if u.reasons and not u.confident else ""
        if not self.incoming.trusted:
            reasons += f"\nNot acted on: {self.incoming.untrusted_why}"
        subject = f"Subject: {self.incoming.subject}\n" if self.incoming.subject else ""
        return (
            f"From {self.incoming.sender} by {self.incoming.channel}:\n{subject}\n{self.incoming.text}\n\n"
            f"Read as: {', '.join(read)}{reasons}"
        )
