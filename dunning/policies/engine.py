"""The rules of dunning, as pure functions: (case, policy, now) -> what to do next.

No database, no clock of its own: the cycle builds the frozen views below from its rows, asks
`decide`, and acts on the `Decision` (plan a message, record a passed step, close the case).
The same function drives `preview` ("what would go out in the next 30 days") and the
simulations in the tests, so what is previewed is what happens.

THE RULES (each one is tested in tests/policies/test_engine.py)

R1  Closed and escalated cases are never messaged. A closed case stays closed here; reopening it
    (new overdue money) is the cycle's job, with a fresh anchor and no step done.
R2  A case closes when nothing it chases is still owed: no open balance on an overdue invoice
    (disputed ones included: a dispute is not a payment), nor, before its due date, on an invoice
    the path is already chasing (a pre-due nudge).
R3  The anchor is the due date of the oldest undisputed overdue invoice when the case opened (or,
    on a path that starts before the due date, of the oldest invoice coming due within that
    lead). It never moves while the case is open: a part-payment that changes which invoice is
    oldest must neither re-trigger a step already sent nor make one look long overdue. New
    overdue invoices simply join the next message.
R4  Excluded customers, customers on hold, and paused cases (promise, plan, dispute, manual
    hold) get nothing. On resume the next step is planned at once if it is due, subject to the
    contact rules; steps "missed" during the pause are not sent in bulk (R6).
R5  The path is the one of the case's current band. A band change (rescoring) or a policy change
    takes effect at the next step, never by cancelling one already planned: the position on the
    new path is found by the key of the last step planned if the new path has it, else it is
    just before the first step whose after_days is greater than that step's after_days.
R6  One step at a time: only the next step (after the last one planned) can be planned, and not
    while the last one's message is still pending. Step i is due on
        max(anchor + after_days(i), date of the last step's send + min_days_between_contacts)
    in the customer's time zone: when several steps are overdue at once (case found late, pause
    ended, policy change) only the next is planned now and the rest keep their spacing ("catch-up").
R7  A pre-due step (after_days < 0) that could only go out after the anchor due date is passed
    over with a "pass" decision the audit log records: it is never sent late, never skipped
    silently, and the case moves on to the next step.
R8  When the overdue amount listed is below the step's min_amount for the currency, the step
    waits (it is not skipped) and is planned as soon as more is overdue.
R9  Everything overdue disputed: nothing to ask for, so nothing is planned until a dispute ends.
R10 Channels are the step's channels minus those the customer refused, opted out of, or that are
    invalid, and minus those none of the contacts the step writes to (its `to` roles, else the
    primary contact) can receive; if none is left, a call task for the team replaces the message.
R11 Approval: as the step says; and for consumers a registered letter or an agency hand-off
    always needs a person's approval, whatever the policy says. The model does not decide that.
R12 Contact rules push the send time, they never drop a step: the send time is the first moment
    in the customer's contact window (on a business day if the policy says so) that is at
    least min_days_between_contacts calendar days after the last contact on any channel and
    leaves at most max_contacts_per_7_days contact days in any 7 consecutive days.
R13 Every decision carries a reason for the audit log naming the rule, the policy and its
    version, the band and the path.
R14 A promise to pay pauses the case until the promised day plus the policy's grace days are
    over (customer's time); once the customer has broken max_broken promises, a new promise is
    noted but no longer pauses (promise_pauses, promise_pause_until).
R15 Entry: a case with no step yet starts at the first step of its path (`entry: first_step`).
    By age (`entry: by_age`, or `{by_age_after_days: N}` once the anchor is more than N days
    past), it enters at the last step whose after_days has passed and whose min_amount the
    listed money reaches; the steps before it are passed over in one "pass" decision that names
    each of them and why (Decision.passed_over, the audit log). The step it enters at is then
    decided like any other: R8 to R12 (minimum, channels, approval, contact rules) still apply.

Contract with the cycle: all datetimes are timezone-aware UTC. Store Decision.anchor_due_on on
the case the first time it is given and never change it while the case is open (R3: a case left
unanchored would re-anchor after every payment). After a "plan", store the step (record_step)
and set pending_step until the message is sent or fails; if the message is cancelled unsent
(pause, opt-out), restore the previous step fields so the step is planned again, not lost.
Pass every contact of the customer in `contacts`, including messages planned but not yet sent
(at their send time), so the caps hold across the customer's cases in several currencies.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from typing import Any, Literal

from dunning.contacts.roles import DEFAULT_TO, copied, holders
from dunning.money import with_code
from dunning.policies import calendar
from dunning.policies.document import Path, Policy, Step
from dunning.words import plural

Action = Literal["plan", "pass", "wait", "close", "none"]
NEXT_SEND_DAYS = 400  # how far next_send looks: beyond the longest path and pause anyone writes


# ---- what the cycle gives us ------------------------------------------------------------------


@dataclass(frozen=True)
class InvoiceView:
    id: Any
    number: str
    due_on: date
    balance_minor: int  # still owed, after payments and credit notes
    disputed: bool = False


class Names(frozenset[str]):
    """A set of names (channels, roles) whose repr is sorted. A frozenset's repr follows the string
    hashes, which change with each process's hash seed: the cycle digests a view's repr to know it
    unchanged, and two workers, or one restarted, must agree on it."""

    __slots__ = ()

    def __repr__(self) -> str:
        return f"Names({sorted(self)!r})"


@dataclass(frozen=True)
class ContactView:
    at: datetime  # UTC; include messages planned but not yet sent, at their send time
    channel: str


@dataclass(frozen=True)
class Addressee:
    """One of the customer's contacts, as the engine needs it."""

    contact_id: Any
    roles: frozenset[str]
    channels: frozenset[str]  # it has an address there, not marked invalid, not opted out by itself
    name: str | None = None


@dataclass(frozen=True)
class CustomerView:
    tz: str = "UTC"  # IANA zone
    country: str | None = None  # ISO 3166 alpha-2: public holidays and fee jurisdiction
    kind: Literal["business", "consumer"] = "business"
    excluded: bool = False  # never dunned (key accounts, legal, deceased...)
    hold_until: datetime | None = None
    refused_channels: frozenset[str] = frozenset()  # "don't text me"
    invalid_channels: frozenset[str] = frozenset()  # bounced address, no phone number, no postal address
    opted_out_channels: frozenset[str] = frozenset()  # STOP, for every contact
    addressees: tuple[Addressee, ...] = ()  # empty: contacts unknown, the channel checks above decide alone


@dataclass(frozen=True)
class CaseView:
    case_id: Any
    currency: str
    state: Literal["active", "paused", "escalated", "closed"]
    invoices: Sequence[InvoiceView]  # the customer's open invoices in this currency
    customer: CustomerView
    contacts: Sequence[ContactView] = ()  # every contact with the customer, any case, any channel
    band: str | None = None  # current risk band (from the latest score)
    path_name: str | None = None  # path of the last step planned
    policy_version: int | None = None  # policy version of the last step planned
    current_step_index: int = -1  # last step planned (or passed) on path_name; -1: none yet
    current_step_key: str | None = None
    current_step_after_days: int | None = None
    current_step_at: datetime | None = None  # send time of the last step sent (a passed step keeps it)
    anchor_due_on: date | None = None  # None: not anchored yet; store decide()'s and keep it
    paused_until: datetime | None = None
    pending_step: bool = False  # the last step's message is not sent yet (awaiting approval, queued)


# ---- what we give back ------------------------------------------------------------------------


@dataclass(frozen=True)
class StepRef:
    path: str
    index: int
    key: str
    name: str  # what people read
    kind: str  # the step's kind in the policy (see Decision.kind for what is actually sent)
    after_days: int


@dataclass(frozen=True)
class Decision:
    action: Action  # plan: create the message; pass: record the step as done, send nothing
    rule: str  # machine-readable: closed, paid, paused, not_due, planned, ...
    reason: str  # for the audit log
    policy_version: int | None
    band: str | None
    path_name: str | None
    anchor_due_on: date | None  # store it on the case
    step: StepRef | None = None  # the step planned/passed, or the one waited for
    due_on: date | None = None  # local date the step is (or becomes) due
    send_not_before: datetime | None = None
    kind: str | None = None  # step kind, or "call_task" on fallback
    template: str | None = None
    channels: tuple[str, ...] = ()
    requires_approval: bool = False
    fallback: bool = False
    show_fees: bool = False
    to_roles: tuple[str, ...] = DEFAULT_TO  # whom the message writes to and copies, by contact role
    cc_roles: tuple[str, ...] = ()
    escalates: bool = False  # an agency hand-off: the case becomes escalated once it is sent
    invoices: tuple[InvoiceView, ...] = ()  # to list in the message, oldest first
    amount_minor: int = 0  # their total
    next_check_at: datetime | None = None  # when deciding again could change the answer; None: on an event
    passed_over: tuple[StepRef, ...] = ()  # a pass: every step it passes over (R7, R15)

    @property
    def should_close(self) -> bool:
        return self.action == "close"


@dataclass(frozen=True)
class PlannedSend:
    case_id: Any
    step: StepRef
    kind: str
    template: str
    channels: tuple[str, ...]
    send_at: datetime
    requires_approval: bool
    fallback: bool
    amount_minor: int
    currency: str
    invoice_numbers: tuple[str, ...]
    reason: str
    to: tuple[str, ...] = ()  # the contacts it would write to and copy, by name
    cc: tuple[str, ...] = ()


# ---- the anchor and what is owed (R2, R3) -----------------------------------------------------


def anchor_for(
    invoices: Iterable[InvoiceView], today: date, *, current: date | None = None, lead_days: int = 0
) -> date | None:
    """R3: the case's anchor. `current` (already anchored) always wins; None: nothing to chase.

    `lead_days` is how early the path starts before the due date (Path.lead_days); with it, an
    invoice coming due within that many days anchors a new case too.
    """
    if current is not None:
        return current
    horizon = today + timedelta(days=lead_days)
    candidates = [
        i.due_on
        for i in invoices
        if i.balance_minor > 0 and not i.disputed and (i.due_on < today or (lead_days > 0 and i.due_on <= horizon))
    ]
    return min(candidates, default=None)


def _chased(invoice: InvoiceView, today: date, anchor: date) -> bool:
    # Overdue, or (before the anchor's due date) due by the anchor: what a pre-due nudge is about.
    return invoice.balance_minor > 0 and (invoice.due_on < today or invoice.due_on <= anchor)


def still_owed(invoices: Iterable[InvoiceView], today: date, anchor: date | None) -> bool:
    """R2: False means the case closes."""
    if anchor is None:
        return False
    return any(_chased(i, today, anchor) for i in invoices)


def to_list(invoices: Iterable[InvoiceView], today: date, anchor: date) -> tuple[InvoiceView, ...]:
    """The invoices a message asks for: chased and not disputed, oldest first."""
    return tuple(
        sorted(
            (i for i in invoices if _chased(i, today, anchor) and not i.disputed),
            key=lambda i: (i.due_on, str(i.number)),
        )
    )


# ---- where the case is on its path (R5) -------------------------------------------------------


def position_on(path_name: str, path: Path, case: CaseView, policy: Policy) -> tuple[int, str]:
    """Index of the last step done on `path` (-1: none), and how it was found, for the reason."""
    if case.current_step_index < 0:
        return -1, ""
    same_path = case.path_name == path_name and case.policy_version == policy.version
    if same_path and case.current_step_index < len(path.steps):
        if case.current_step_key in (None, path.steps[case.current_step_index].key):
            return case.current_step_index, ""
    change = _describe_change(path_name, case, policy)
    if case.current_step_key is not None:
        found = path.index_of(case.current_step_key)
        if found is not None:
            return found, f"{change}: continuing after step {case.current_step_key!r} (same key)"
    if case.current_step_after_days is not None:
        done = sum(1 for s in path.steps if s.after_days <= case.current_step_after_days)
        return done - 1, (
            f"{change}: no step {case.current_step_key!r} on path {path_name!r}, continuing with the first step"
            f" after day {case.current_step_after_days}"
        )
    # Nothing recorded but an index: keep it, within the path.
    return min(case.current_step_index, len(path.steps) - 1), f"{change}: kept step position {case.current_step_index}"


def _describe_change(path_name: str, case: CaseView, policy: Policy) -> str:
    parts = []
    if case.path_name != path_name:
        parts.append(f"path changed {case.path_name!r} -> {path_name!r}")
    if case.policy_version != policy.version:
        parts.append(f"policy changed v{case.policy_version} -> v{policy.version}")
    return ", ".join(parts) or "step position re-read"


# ---- contact rules (R12) ----------------------------------------------------------------------


def send_time(not_before: datetime, earliest_day: date, case: CaseView, policy: Policy) -> datetime:
    """R12: the first allowed contact moment at or after `not_before` and local day `earliest_day`."""
    rules, customer = policy.contact, case.customer
    tz = customer.tz
    contact_days = sorted({calendar.local_date(c.at, tz) for c in case.contacts})
    day = earliest_day
    if contact_days:
        day = max(day, contact_days[-1] + timedelta(days=rules.min_days_between_contacts))
    at = max(not_before, calendar.start_of_day(day, tz))
    for _ in range(100):  # each turn moves forward by at least a day
        at = calendar.next_contact_time(at, tz, rules.window, rules.business_days_only, customer.country)
        d = calendar.local_date(at, tz)
        recent = [c for c in contact_days if d - timedelta(days=6) <= c <= d]
        if len(recent) < rules.max_contacts_per_7_days:
            return at
        # Free again once enough of the recent contact days have left the 7-day window.
        freed = recent[len(recent) - rules.max_contacts_per_7_days] + timedelta(days=7)
        at = max(at, calendar.start_of_day(freed, tz))
    raise ValueError(f"case {case.case_id}: no send time satisfies the contact rules")


def usable_channels(step: Step, customer: CustomerView) -> tuple[tuple[str, ...], list[str]]:
    """R10: the step's channels the customer can receive, and why the others were dropped."""
    kept: list[str] = []
    dropped: list[str] = []
    for channel in step.channels:
        if channel == "task":  # a task is for the team, not sent to the customer
            kept.append(channel)
        elif channel in customer.opted_out_channels:
            dropped.append(f"{channel} (opted out)")
        elif channel in customer.refused_channels:
            dropped.append(f"{channel} (refused)")
        elif channel in customer.invalid_channels:
            dropped.append(f"{channel} (invalid)")
        elif customer.addressees and not any(channel in a.channels for a in holders(customer.addressees, step.to)):
            dropped.append(f"{channel} (no {'/'.join(step.to)} contact to receive it)")
        else:
            kept.append(channel)
    return tuple(kept), dropped


def recipients(decision: Decision, customer: CustomerView) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The names of the contacts a planned message writes to and copies (the preview)."""
    channels = set(decision.channels)
    to = [a for a in holders(customer.addressees, decision.to_roles) if a.channels & channels]
    cc = [a for a in copied(customer.addressees, decision.cc_roles, to) if a.channels & channels]
    return tuple(map(_name, to)), tuple(map(_name, cc))


def _name(addressee: Addressee) -> str:
    return addressee.name or f"contact {addressee.contact_id}"


# ---- the decision -----------------------------------------------------------------------------


def decide(case: CaseView, policy: Policy, now: datetime) -> Decision:
    customer = case.customer
    today = calendar.local_date(now, customer.tz)
    context = _Context(policy, case)

    # R1
    if case.state == "closed":
        return context.decision("none", "closed", "closed cases are never messaged")

    lead_days = 0
    resolved = policy.path_for_band(case.band) if case.band is not None else None
    if resolved is None and case.band is None and case.path_name in policy.paths:
        resolved = case.path_name, policy.paths[case.path_name]
    if resolved is not None:
        lead_days = resolved[1].lead_days
        context.path_name = resolved[0]

    # R3, R2
    anchor = anchor_for(case.invoices, today, current=case.anchor_due_on, lead_days=lead_days)
    context.anchor = anchor
    if anchor is None or not still_owed(case.invoices, today, anchor):  # None: nothing to chase
        return context.decision("close", "paid", "nothing overdue is still owed: the case closes")
    if case.state == "escalated":
        return context.decision("none", "escalated", "handed to the collection agency: no more messages from us")

    # R4
    if customer.excluded:
        return context.decision("none", "excluded", "customer is excluded from dunning")
    if case.state == "paused":
        until = f" until {case.paused_until.isoformat()}" if case.paused_until else " until the pause is lifted"
        return context.decision("none", "paused", f"case is paused{until}", next_check_at=case.paused_until)
    if customer.hold_until is not None and now < customer.hold_until:
        return context.decision(
            "none",
            "hold",
            f"customer on hold until {customer.hold_until.isoformat()}",
            next_check_at=customer.hold_until,
        )

    # R5
    if resolved is None:
        return context.decision(
            "none", "no_path", f"band {case.band!r} has no path in this policy: a person must place the case"
        )
    path_name, path = resolved
    done, mapping = position_on(path_name, path, case, policy)
    context.note = mapping
    if done + 1 >= len(path.steps):
        return context.decision(
            "none", "path_complete", f"every step of path {path_name!r} is done ({plural(len(path.steps), 'step')})"
        )
    index = done + 1
    step = path.steps[index]
    context.step = _ref(path_name, path, index)

    # R6: one step at a time, and the catch-up spacing.
    if case.pending_step:
        return context.decision("wait", "pending", "the previous step's message has not gone out yet")

    # R15
    if case.current_step_index < 0 and policy.entry.by_age_after_days is not None:
        late = (today - anchor).days
        listed = to_list(case.invoices, today, anchor)
        if late > policy.entry.by_age_after_days and listed:
            amount = sum(i.balance_minor for i in listed)
            entry, notes = entry_step(path, late, amount, case.currency)
            if entry > 0:
                passed = tuple(_ref(path_name, path, i) for i in range(entry))
                context.step = passed[-1]
                return context.decision(
                    "pass",
                    "entry_by_age",
                    f"the oldest invoice is {late} days late (the policy enters by age after"
                    f" {policy.entry.by_age_after_days}): "
                    + ", ".join(_named(r) for r in passed)
                    + f" passed over; the case enters at {_named(_ref(path_name, path, entry))}"
                    + "".join(f"; {n}" for n in notes),
                    passed_over=passed,
                )
    due_on = anchor + timedelta(days=step.after_days)
    why_then = f"anchor {anchor.isoformat()} {step.after_days:+d} days"
    if case.current_step_at is not None:
        spaced = calendar.local_date(case.current_step_at, customer.tz) + timedelta(
            days=policy.contact.min_days_between_contacts
        )
        if spaced > due_on:
            due_on = spaced
            why_then = f"catch-up: {policy.contact.min_days_between_contacts} days after the previous step"
    if today < due_on:
        return context.decision(
            "wait",
            "not_due",
            f"step {step.key!r} is due on {due_on.isoformat()} ({why_then})",
            due_on=due_on,
            next_check_at=calendar.start_of_day(due_on, customer.tz),
        )

    # R9
    listed = to_list(case.invoices, today, anchor)
    if not listed:
        return context.decision("none", "disputed", "everything overdue is disputed", due_on=due_on)

    # R12 (the send time decides R7)
    send_at = send_time(now, due_on, case, policy)

    # R7
    if step.after_days < 0 and calendar.local_date(send_at, customer.tz) > anchor:
        return context.decision(
            "pass",
            "pre_due_passed",
            f"pre-due step {step.key!r} passed over: it could not go out before the due date {anchor.isoformat()}",
            due_on=due_on,
            passed_over=(context.step,),
        )

    # R8
    amount = sum(i.balance_minor for i in listed)
    minimum = step.min_amount_minor(case.currency)
    if minimum is not None and amount < minimum:
        return context.decision(
            "wait",
            "below_minimum",
            f"step {step.key!r} waits: {with_code(amount, case.currency)} overdue is below the minimum"
            f" of {with_code(minimum, case.currency)}",
            due_on=due_on,
        )

    # R10, R11
    channels, dropped = usable_channels(step, customer)
    kind, template, fallback = step.kind, step.template, False
    approval = step.requires_approval
    notes = []
    if dropped:
        notes.append("dropped " + ", ".join(dropped))
    if not channels:
        kind, template, channels, fallback, approval = "call_task", "call_task", ("task",), True, False
        notes.append("no channel left: a call task replaces the message")
    elif customer.kind == "consumer" and step.kind in ("registered_letter", "agency_handoff") and not approval:
        approval = True
        notes.append("consumer: a person approves this step")
    elif approval:
        notes.append("awaits approval")
    return context.decision(
        "plan",
        "planned",
        f"step {step.key!r} ({step.kind}) due on {due_on.isoformat()} ({why_then}),"
        f" send from {send_at.isoformat()}" + "".join(f"; {n}" for n in notes),
        due_on=due_on,
        send_not_before=send_at,
        kind=kind,
        template=template,
        channels=channels,
        requires_approval=approval,
        fallback=fallback,
        show_fees=step.fees,
        to_roles=tuple(step.to),
        cc_roles=tuple(step.cc),
        escalates=step.kind == "agency_handoff" and not fallback,
        invoices=listed,
        amount_minor=amount,
    )


def _ref(path_name: str, path: Path, index: int) -> StepRef:
    step = path.steps[index]
    return StepRef(path_name, index, step.key, step.name, step.kind, step.after_days)


def _named(ref: StepRef) -> str:
    return f"{ref.name!r} (day {ref.after_days:+d})"


def entry_step(path: Path, late: int, amount_minor: int, currency: str) -> tuple[int, list[str]]:
    """R15: the index of the step a case `late` days past its anchor enters at by age, and why
    steps already due after it were not entered (their minimum is not reached)."""
    entry, skipped = 0, []
    for i, step in enumerate(path.steps):
        if step.after_days > late:
            break
        minimum = step.min_amount_minor(currency)
        if minimum is not None and amount_minor < minimum:
            skipped.append(
                (
                    i,
                    f"not entered at {step.name!r}: {with_code(amount_minor, currency)} is below its"
                    f" minimum of {with_code(minimum, currency)}",
                )
            )
        else:
            entry = i
    return entry, [note for i, note in skipped if i > entry]


@dataclass
class _Context:
    # What every decision carries; filled in as decide() learns it.
    policy: Policy
    case: CaseView
    path_name: str | None = None
    anchor: date | None = None
    step: StepRef | None = None
    note: str = ""

    def decision(self, action: Action, rule: str, text: str, **fields: Any) -> Decision:
        head = (
            f"[{rule}] policy {self.policy.name!r} v{self.policy.version}, band {self.case.band or '-'},"
            f" path {self.path_name or '-'}"
        )
        tail = f" ({self.note})" if self.note else ""
        return Decision(
            action=action,
            rule=rule,
            reason=f"{head}: {text}{tail}",
            policy_version=self.policy.version,
            band=self.case.band,
            path_name=self.path_name,
            anchor_due_on=self.anchor,
            step=self.step,
            **fields,
        )


# ---- what a message states, and promises ----------------------------------------------------------


def promise_pauses(policy: Policy, broken_so_far: int) -> bool:
    """A promise to pay pauses the case until the customer has broken max_broken of them."""
    return broken_so_far < policy.promises.max_broken


def promise_pause_until(policy: Policy, promised_on: date, tz: str) -> datetime:
    """The pause for a promise ends when the promised day and its grace days are over, locally."""
    return calendar.start_of_day(promised_on + timedelta(days=policy.promises.grace_days + 1), tz)


# ---- acting on a decision, and the preview -----------------------------------------------------


def record_step(case: CaseView, decision: Decision) -> CaseView:
    """The case as the cycle stores it after acting on a plan or pass decision."""
    if decision.action not in ("plan", "pass") or decision.step is None:
        return case
    return replace(
        case,
        path_name=decision.step.path,
        policy_version=decision.policy_version,
        current_step_index=decision.step.index,
        current_step_key=decision.step.key,
        current_step_after_days=decision.step.after_days,
        current_step_at=decision.send_not_before if decision.action == "plan" else case.current_step_at,
        anchor_due_on=decision.anchor_due_on,
        pending_step=decision.action == "plan",
    )


def preview(
    cases: Iterable[CaseView], policy: Policy, start: datetime, days: int, now: datetime | None = None
) -> list[PlannedSend]:
    """What would be sent from `start` for `days` days if nobody paid and every message went out.

    Paused cases are assumed to resume when their pause ends (a promise not kept); cases paused
    with no end date stay silent. Nothing is previewed before `now`.
    """
    begin = max(start, now) if now is not None else start
    end = start + timedelta(days=days)
    sends: list[PlannedSend] = []
    for case in cases:
        sends.extend(_preview_case(case, policy, begin, end))
    return sorted(sends, key=lambda s: (s.send_at, str(s.case_id), s.step.index))


def next_send(case: CaseView, policy: Policy, now: datetime, days: int = NEXT_SEND_DAYS) -> PlannedSend | None:
    """The next message the case would send if nothing changes: the preview's first send, so
    what the desk says comes next is what the preview shows (a Monday, not the Sunday due date)."""
    sends = _preview_case(case, policy, now, now + timedelta(days=days), limit=1)
    return sends[0] if sends else None


def _preview_case(
    case: CaseView, policy: Policy, at: datetime, end: datetime, limit: int | None = None
) -> list[PlannedSend]:
    sends: list[PlannedSend] = []
    for _ in range(500):  # every turn plans a step or moves the virtual clock forward
        if at >= end or len(sends) == limit:
            break
        d = decide(case, policy, at)
        if d.action == "plan":
            assert d.send_not_before is not None and d.step is not None
            if d.send_not_before >= end:
                break
            sends.append(
                PlannedSend(
                    case.case_id,
                    d.step,
                    d.kind or d.step.kind,
                    d.template or d.step.kind,
                    d.channels,
                    d.send_not_before,
                    d.requires_approval,
                    d.fallback,
                    d.amount_minor,
                    case.currency,
                    tuple(i.number for i in d.invoices),
                    d.reason,
                    *recipients(d, case.customer),
                )
            )
            case = replace(
                record_step(case, d),
                pending_step=False,  # assume it went out at its send time
                contacts=(*case.contacts, *(ContactView(d.send_not_before, c) for c in d.channels)),
                state="escalated" if d.escalates else case.state,
            )
        elif d.action == "pass":
            case = record_step(case, d)
        elif d.rule == "paused" and case.paused_until is not None:
            at = max(at, case.paused_until)
            case = replace(case, state="active", paused_until=None)
        elif d.next_check_at is not None and d.next_check_at > at:
            at = d.next_check_at
        else:
            break
    return sends
