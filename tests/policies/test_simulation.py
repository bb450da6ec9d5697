"""Months of dunning in memory: the engine driven the way the cycle drives it.

`World` plays the parts around the engine: it opens a case when money becomes chased, applies
payments and pauses, calls `decide` once per simulated day at a given time, plans the message
(pending until its send time), delivers it as a contact at its send time, cancels it (and rolls
the step back, so it is planned again on resume) when the case is paused or closed first, and
marks the case escalated once an agency hand-off goes out.

Two kinds of tests use it: hypothesis-generated portfolios checked against the rules that must
hold whatever happens, and one fixed portfolio whose exact sequence of messages under the
default policy is written out below, worked by hand.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dunning.policies import calendar
from dunning.policies.document import ContactRules, ContactWindow, Policy, load_default_policy
from dunning.policies.engine import (
    CaseView,
    ContactView,
    CustomerView,
    Decision,
    InvoiceView,
    anchor_for,
    decide,
    record_step,
)

UTC = UTC
DEFAULT = load_default_policy()


# ---- the world ------------------------------------------------------------------------------------


@dataclass
class Customer:
    name: str
    view: CustomerView
    band: str
    currency: str
    invoices: dict[str, InvoiceView]


@dataclass
class Message:
    case_id: int
    customer: str
    decision: Decision
    before: CaseView  # the case before this step, to roll back to if the message is cancelled
    delivered: bool = False
    cancelled: bool = False


@dataclass
class World:
    policy: Policy
    customers: dict[str, Customer]
    cases: dict[str, CaseView] = field(default_factory=dict)  # current case per customer (any state)
    contacts: dict[str, list[ContactView]] = field(default_factory=lambda: defaultdict(list))
    pending: dict[str, Message] = field(default_factory=dict)
    messages: list[Message] = field(default_factory=list)
    decisions: list[tuple[datetime, CaseView, Decision]] = field(default_factory=list)
    steps_done: dict[int, list[Decision]] = field(default_factory=lambda: defaultdict(list))
    next_case_id: int = 1

    # -- events --

    def pay(self, name: str, number: str, amount_minor: int) -> None:
        invoice = self.customers[name].invoices[number]
        paid = min(amount_minor, invoice.balance_minor)
        self.customers[name].invoices[number] = replace(invoice, balance_minor=invoice.balance_minor - paid)

    def pause(self, name: str, until: datetime) -> None:
        case = self.cases.get(name)
        if case is None or case.state != "active":
            return
        self._cancel_pending(name)
        self.cases[name] = replace(self.cases[name], state="paused", paused_until=until)

    # -- one run of the cycle and the dispatcher --

    def tick(self, now: datetime) -> None:
        for name, customer in self.customers.items():
            case = self._case_for(name, customer, now)
            if case is None:
                continue
            case = replace(case, invoices=tuple(customer.invoices.values()), contacts=self._contacts_seen(name))
            d = decide(case, self.policy, now)
            self.decisions.append((now, case, d))
            if d.action == "close":
                self._cancel_pending(name)
                case = replace(case, state="closed")
            elif d.action == "pass":
                self.steps_done[case.case_id].append(d)
                case = record_step(case, d)
            elif d.action == "plan":
                self.steps_done[case.case_id].append(d)
                message = Message(case.case_id, name, d, before=case)
                self.pending[name] = message
                self.messages.append(message)
                case = record_step(case, d)
            self.cases[name] = case
        self._deliver(now)

    def _case_for(self, name: str, customer: Customer, now: datetime) -> CaseView | None:
        case = self.cases.get(name)
        if case is not None and case.state == "paused" and case.paused_until and now >= case.paused_until:
            case = replace(case, state="active", paused_until=None)  # the promise was not kept
        if case is None or case.state == "closed":
            # What the cycle does: a case opens when the path of the customer's band starts
            # chasing some money (overdue, or due within the path's pre-due lead).
            lead = self.policy.path_for_band(customer.band)[1].lead_days
            today = calendar.local_date(now, customer.view.tz)
            anchor = anchor_for(customer.invoices.values(), today, lead_days=lead)
            if anchor is None:
                return case
            case = CaseView(
                self.next_case_id,
                customer.currency,
                "active",
                (),
                customer.view,
                band=customer.band,
                anchor_due_on=anchor,
            )
            self.next_case_id += 1
        return case

    def _contacts_seen(self, name: str) -> tuple[ContactView, ...]:
        planned = self.pending.get(name)
        extra = [ContactView(planned.decision.send_not_before, c) for c in planned.decision.channels] if planned else []
        return tuple(self.contacts[name]) + tuple(extra)

    def _deliver(self, now: datetime) -> None:
        for name, message in list(self.pending.items()):
            if message.decision.send_not_before <= now:
                message.delivered = True
                del self.pending[name]
                for channel in message.decision.channels:
                    self.contacts[name].append(ContactView(message.decision.send_not_before, channel))
                case = replace(self.cases[name], pending_step=False)
                if message.decision.escalates:
                    case = replace(case, state="escalated")
                self.cases[name] = case

    def _cancel_pending(self, name: str) -> None:
        message = self.pending.pop(name, None)
        if message is None:
            return
        message.cancelled = True
        self.steps_done[message.case_id].remove(message.decision)
        b = message.before  # the step was never sent: it must be planned again, not counted as done
        self.cases[name] = replace(
            self.cases[name],
            path_name=b.path_name,
            policy_version=b.policy_version,
            current_step_index=b.current_step_index,
            current_step_key=b.current_step_key,
            current_step_after_days=b.current_step_after_days,
            current_step_at=b.current_step_at,
            pending_step=False,
        )

    def sent(self) -> list[Message]:
        return [m for m in self.messages if m.delivered]


def run(world: World, start: datetime, days: int, hours: list[float], events: dict[date, list]) -> World:
    for day in range(days):
        now = start + timedelta(days=day, hours=hours[day % len(hours)])
        for event in events.get(now.date(), []):
            event(world, now)
        world.tick(now)
    return world


# ---- the invariants -------------------------------------------------------------------------------


def check_invariants(world: World) -> None:
    policy = world.policy
    rules = policy.contact
    for now, case, d in world.decisions:
        # Only active, open cases of customers not on hold are ever planned.
        if d.action in ("plan", "pass"):
            assert case.state == "active", d.reason
            assert not case.customer.excluded
            assert case.customer.hold_until is None or case.customer.hold_until <= now
            assert d.invoices or d.action == "pass"
        if d.action == "pass" and d.rule == "entry_by_age":
            # R15: only a new case, late enough, and only steps already due are passed over
            today = calendar.local_date(now, case.customer.tz)
            assert case.current_step_index < 0
            assert (today - d.anchor_due_on).days > policy.entry.by_age_after_days
            assert [s.index for s in d.passed_over] == list(range(len(d.passed_over))) and d.passed_over[-1] == d.step
            assert all(d.anchor_due_on + timedelta(days=s.after_days) <= today for s in d.passed_over)
        elif d.action == "pass":
            assert d.step.after_days < 0 and d.passed_over == (d.step,), "otherwise only pre-due steps are passed over"
        if d.action == "plan":
            # never early: not before its day, relative to the anchor
            local_day = calendar.local_date(d.send_not_before, case.customer.tz)
            assert local_day >= d.anchor_due_on + timedelta(days=d.step.after_days)
            if d.step.after_days < 0:
                assert local_day <= d.anchor_due_on, "a pre-due step never arrives after the due date"
            if case.customer.kind == "consumer" and d.kind in ("registered_letter", "agency_handoff"):
                assert d.requires_approval
            assert d.send_not_before >= now
    for message in world.sent():
        customer = world.customers[message.customer].view
        assert calendar.in_window(
            message.decision.send_not_before, customer.tz, rules.window, rules.business_days_only, customer.country
        ), message.decision.reason
    for name, contacts in world.contacts.items():
        tz = world.customers[name].view.tz
        days = sorted({calendar.local_date(c.at, tz) for c in contacts})
        for earlier, later in zip(days, days[1:]):
            assert (later - earlier).days >= rules.min_days_between_contacts, (name, earlier, later)
        for d in days:
            in_week = [x for x in days if d - timedelta(days=6) <= x <= d]
            assert len(in_week) <= rules.max_contacts_per_7_days, (name, in_week)
    # No step skipped silently: per case, the steps done or passed over are 0, 1, 2, ... in order,
    # each on one path.
    anchors: dict[int, set] = defaultdict(set)
    for _, case, d in world.decisions:
        if d.anchor_due_on is not None and d.action != "close":
            anchors[case.case_id].add(d.anchor_due_on)
    for case_id, done in world.steps_done.items():
        indexes = [s.index for d in done for s in d.passed_over or (d.step,)]
        assert indexes == list(range(len(indexes))), [d.step.key for d in done]
        assert len({d.step.path for d in done}) <= 1
        assert len(anchors[case_id]) == 1, "the anchor never moves while a case is open"
    # Nothing is ever planned for a case that is closed, paused, escalated or on hold.
    for _, case, d in world.decisions:
        if case.state != "active":
            assert d.action in ("none", "close"), d.reason


# ---- random portfolios -------------------------------------------------------------------------------

ZONES = [
    ("Europe/Paris", "FR"),
    ("Europe/London", "GB"),
    ("America/New_York", "US"),
    ("Australia/Sydney", "AU"),
    ("Asia/Tokyo", "JP"),
    ("UTC", None),
]
START = datetime(2025, 1, 6, tzinfo=UTC)
DAYS = 150

some_channels = st.frozensets(st.sampled_from(["email", "sms", "letter"]), max_size=2)


@st.composite
def customers(draw, name: str) -> Customer:
    tz, country = draw(st.sampled_from(ZONES))
    hold = draw(st.one_of(st.none(), st.integers(0, DAYS).map(lambda d: START + timedelta(days=d, hours=5))))
    view = CustomerView(
        tz=tz,
        country=country,
        kind=draw(st.sampled_from(["business", "consumer"])),
        hold_until=hold,
        opted_out_channels=draw(some_channels),
        invalid_channels=draw(some_channels),
    )
    invoices = draw(st.lists(st.tuples(st.integers(-40, DAYS), st.integers(1, 2_000_00)), min_size=1, max_size=4))
    return Customer(
        name,
        view,
        draw(st.sampled_from(["low", "medium", "high"])),
        "EUR",
        {
            f"{name}-{i}": InvoiceView(f"{name}-{i}", f"{name}-{i}", (START + timedelta(days=due)).date(), amount)
            for i, (due, amount) in enumerate(invoices)
        },
    )


@st.composite
def contact_rules(draw) -> ContactRules:
    start = draw(st.integers(6, 12))
    return ContactRules(
        window=ContactWindow(
            start=f"{start:02d}:00", end=f"{draw(st.integers(start + 1, 22)):02d}:{draw(st.sampled_from(['00', '30']))}"
        ),
        business_days_only=draw(st.booleans()),
        min_days_between_contacts=draw(st.integers(1, 5)),
        max_contacts_per_7_days=draw(st.integers(1, 4)),
    )


def _waived(policy: Policy) -> Policy:
    # A policy that waives approval everywhere: consumers must still get a person's approval.
    doc = policy.model_dump(mode="json")
    for path in doc["paths"].values():
        for step in path["steps"]:
            step["requires_approval"] = False
    return Policy.model_validate(doc)


WAIVED = _waived(DEFAULT)


@st.composite
def worlds(draw):
    rules = draw(st.one_of(st.just(DEFAULT.contact), contact_rules()))
    policy = draw(st.sampled_from([DEFAULT, WAIVED])).model_copy(update={"contact": rules})
    people = {f"c{i}": draw(customers(f"c{i}")) for i in range(draw(st.integers(1, 4)))}
    events: dict[date, list] = defaultdict(list)
    for day, who, what, size in draw(
        st.lists(
            st.tuples(
                st.integers(0, DAYS),
                st.sampled_from(sorted(people)),
                st.sampled_from(["pay", "pay_all", "pause"]),
                st.integers(1, 100),
            ),
            max_size=15,
        )
    ):
        when = (START + timedelta(days=day)).date()
        if what == "pay_all":
            events[when].append(lambda w, now, who=who: [w.pay(who, n, 10**12) for n in w.customers[who].invoices])
        elif what == "pay":
            number = sorted(people[who].invoices)[size % len(people[who].invoices)]
            events[when].append(
                lambda w, now, who=who, number=number, pct=size: w.pay(
                    who, number, -(-w.customers[who].invoices[number].balance_minor * pct // 100)
                )
            )
        else:
            events[when].append(lambda w, now, who=who, days=size % 20 + 1: w.pause(who, now + timedelta(days=days)))
    hours = draw(st.lists(st.floats(0, 23.99), min_size=1, max_size=7))
    return World(policy, people), hours, dict(events)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(worlds())
def test_random_portfolios_never_break_the_rules(setup):
    world, hours, events = setup
    run(world, START, DAYS, hours, events)
    check_invariants(world)


def test_the_invariant_checks_can_fail():
    # A world where a message is delivered outside the window must be caught: the checks are real.
    world = World(DEFAULT, {"x": Customer("x", CustomerView("Europe/Paris", "FR"), "low", "EUR", {})})
    bogus = Decision(
        "plan",
        "planned",
        "forged",
        None,
        "low",
        "low",
        date(2025, 3, 3),
        send_not_before=datetime(2025, 3, 8, 12, tzinfo=UTC),
        channels=("email",),
    )  # a Saturday
    world.messages.append(Message(1, "x", bogus, before=None, delivered=True))
    with pytest.raises(AssertionError):
        check_invariants(world)


# ---- one portfolio, five months, every message -----------------------------------------------------


def wall(y, m, d, hh=8) -> str:
    # a customer's local wall time, as the expected lists below write it
    return f"{y}-{m:02d}-{d:02d} {hh:02d}:00"


def test_five_months_of_the_default_policy_message_by_message():
    eur, gbp, usd = "EUR", "GBP", "USD"

    def invoices(*rows):
        return {n: InvoiceView(n, n, due, amount) for n, due, amount in rows}

    people = {
        # A: reliable French business. Pays the anchor invoice in April (A2 is then the only one
        # overdue: the anchor does not move), then everything in May: the case closes.
        "A": Customer(
            "A",
            CustomerView("Europe/Paris", "FR", "business"),
            "low",
            eur,
            invoices(("A1", date(2025, 3, 14), 1_200_00), ("A2", date(2025, 4, 15), 300_00)),
        ),
        # B: British consumer, high risk, said STOP to SMS, never pays: all the way to the agency.
        "B": Customer(
            "B",
            CustomerView("Europe/London", "GB", "consumer", opted_out_channels=frozenset({"sms"})),
            "high",
            gbp,
            invoices(("B1", date(2025, 4, 1), 500_00)),
        ),
        # C: American business, medium risk. Pays 1,500 of 2,000 in May; a new invoice due in June
        # joins the registered letter; never pays the rest.
        "C": Customer(
            "C",
            CustomerView("America/New_York", "US", "business"),
            "medium",
            usd,
            invoices(("C1", date(2025, 5, 1), 2_000_00), ("C2", date(2025, 6, 1), 800_00)),
        ),
        # D: French business, medium risk, owes only EUR 40: the registered letter waits for its
        # EUR 150 minimum until a second invoice falls overdue on 1 May (a public holiday).
        "D": Customer(
            "D",
            CustomerView("Europe/Paris", "FR", "business"),
            "medium",
            eur,
            invoices(("D1", date(2025, 2, 10), 40_00), ("D2", date(2025, 4, 30), 200_00)),
        ),
        # E: French business with a bounced email address; promises on 10 March to pay by the
        # 21st (paused until the 24th), does not, then pays everything on 5 May.
        "E": Customer(
            "E",
            CustomerView("Europe/Paris", "FR", "business", invalid_channels=frozenset({"email"})),
            "low",
            eur,
            invoices(("E1", date(2025, 3, 3), 600_00)),
        ),
    }
    events = {
        date(2025, 4, 28): [lambda w, now: w.pay("A", "A1", 1_200_00)],
        date(2025, 5, 20): [lambda w, now: w.pay("A", "A2", 300_00), lambda w, now: w.pay("C", "C1", 1_500_00)],
        date(2025, 3, 10): [lambda w, now: w.pause("E", datetime(2025, 3, 24, 6, tzinfo=UTC))],
        date(2025, 5, 5): [lambda w, now: w.pay("E", "E1", 600_00)],
    }
    world = run(World(DEFAULT, people), datetime(2025, 2, 3, tzinfo=UTC), 180, [6.0], events)
    check_invariants(world)

    got = defaultdict(list)
    for m in world.sent():
        tz = people[m.customer].view.tz
        local = calendar.local(m.decision.send_not_before, tz).strftime("%Y-%m-%d %H:%M")
        got[m.customer].append(
            (
                m.decision.step.key,
                m.decision.kind,
                ",".join(m.decision.channels),
                local,
                m.decision.requires_approval,
                " ".join(i.number for i in m.decision.invoices),
            )
        )

    # Times are the customer's wall clock; the window opens at 08:00 on business days.
    assert got["A"] == [
        ("nudge", "reminder", "email", wall(2025, 3, 11), False, "A1"),  # anchor 14 Mar - 3
        ("r1", "reminder", "email", wall(2025, 3, 17), False, "A1"),
        ("r2", "reminder", "email,sms", wall(2025, 3, 28), False, "A1"),
        ("notice", "formal_notice", "email,letter", wall(2025, 4, 14), False, "A1"),  # day 30 is a Sunday
        ("call", "call_task", "task", wall(2025, 4, 28), False, "A2"),  # A1 paid that morning
        ("registered", "registered_letter", "letter", wall(2025, 5, 13), True, "A2"),  # still day 60 of 14 Mar
    ]  # A2 paid on 20 May: closed before the agency (day 90)
    assert got["B"] == [
        ("nudge", "reminder", "email", wall(2025, 3, 31), False, "B1"),  # due Sat 29 Mar: Monday, still before due
        ("r1", "reminder", "email", wall(2025, 4, 3), False, "B1"),  # day 1 = 2 Apr, but 3 days after the nudge
        ("r2", "reminder", "email", wall(2025, 4, 7), False, "B1"),  # day 5 = Sunday 6th
        ("call", "call_task", "task", wall(2025, 4, 10), False, "B1"),  # day 8 = 9th, 3 days after the 7th
        ("notice", "formal_notice", "email,letter", wall(2025, 4, 14), False, "B1"),  # day 12 = Sunday 13th
        ("registered", "registered_letter", "letter", wall(2025, 4, 28), True, "B1"),  # day 25 = Saturday 26th
        ("agency", "agency_handoff", "email,letter", wall(2025, 5, 16), True, "B1"),  # day 45; then escalated
    ]
    assert got["C"] == [
        ("nudge", "reminder", "email", wall(2025, 4, 28), False, "C1"),
        ("r1", "reminder", "email", wall(2025, 5, 5), False, "C1"),  # day 2 = Saturday 3 May
        ("r2", "reminder", "email,sms", wall(2025, 5, 12), False, "C1"),  # day 9 = Saturday 10th
        ("notice", "formal_notice", "email,letter", wall(2025, 5, 22), False, "C1"),  # 500 left after the 20th
        ("call", "call_task", "task", wall(2025, 6, 2), False, "C1"),  # planned Sat 31 May: C2 not yet overdue
        ("registered", "registered_letter", "letter", wall(2025, 6, 16), True, "C1 C2"),  # C2 joins
        ("agency", "agency_handoff", "letter", wall(2025, 7, 15), True, "C1 C2"),
    ]
    assert got["D"] == [
        ("nudge", "reminder", "email", wall(2025, 2, 7), False, "D1"),
        ("r1", "reminder", "email", wall(2025, 2, 12), False, "D1"),
        ("r2", "reminder", "email,sms", wall(2025, 2, 19), False, "D1"),
        ("notice", "formal_notice", "email,letter", wall(2025, 3, 3), False, "D1"),  # EUR 40 >= EUR 20
        ("call", "call_task", "task", wall(2025, 3, 12), False, "D1"),
        # due 27 March but EUR 40 < EUR 150: waits; D2 overdue on Thursday 1 May (Labour Day): Friday
        ("registered", "registered_letter", "letter", wall(2025, 5, 2), True, "D1 D2"),
    ]  # the agency needs EUR 300: it waits to the end
    assert got["E"] == [
        ("nudge", "call_task", "task", wall(2025, 2, 28), False, "E1"),  # email invalid: a call instead
        ("r1", "call_task", "task", wall(2025, 3, 6), False, "E1"),
        ("r2", "reminder", "sms", wall(2025, 3, 24), False, "E1"),  # due 17th during the pause: sent on resume
        ("notice", "formal_notice", "letter", wall(2025, 4, 2), False, "E1"),
        ("call", "call_task", "task", wall(2025, 4, 17), False, "E1"),
        ("registered", "registered_letter", "letter", wall(2025, 5, 2), True, "E1"),
    ]  # paid on 5 May: closed

    final = {name: case.state for name, case in world.cases.items()}
    assert final == {"A": "closed", "B": "escalated", "C": "escalated", "D": "active", "E": "closed"}
    waiting = [d for _, case, d in world.decisions if case.case_id == world.cases["D"].case_id][-1]
    assert (waiting.rule, waiting.step.key) == ("below_minimum", "agency")
