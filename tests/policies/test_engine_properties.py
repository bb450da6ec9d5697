"""Properties of a single decision, over random cases, customers, histories and clocks.

The month-by-month behaviour (no skipped step, caps over time) is in test_simulation.py; here
each property is about one call to `decide` (or one `preview`) and must hold for any input.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from dunning.policies import calendar
from dunning.policies.document import ContactRules, ContactWindow, Entry, load_default_policy
from dunning.policies.engine import (
    CaseView,
    ContactView,
    CustomerView,
    InvoiceView,
    decide,
    next_send,
    preview,
    record_step,
    to_list,
)

UTC = UTC
DEFAULT = load_default_policy()
BASE = datetime(2025, 3, 1, tzinfo=UTC)
ZONES = [
    ("Europe/Paris", "FR"),
    ("Europe/London", "GB"),
    ("America/New_York", "US"),
    ("Australia/Sydney", "AU"),
    ("Asia/Kolkata", "IN"),
    ("UTC", None),
]
CHANNELS = ["email", "sms", "letter", "task"]
FAST = settings(max_examples=150, deadline=None)

moments = st.integers(0, 150 * 24).map(lambda h: BASE + timedelta(hours=h, minutes=17 * (h % 4)))


def sometimes(strategy, none_weight: int = 3):
    """`strategy` one time in (none_weight + 1), else its empty value: most cases are ordinary."""
    return st.integers(0, none_weight).flatmap(lambda n: strategy if n == 0 else st.just(None))


blocked = st.integers(0, 2).flatmap(
    lambda n: st.frozensets(st.sampled_from(CHANNELS), max_size=3) if n == 0 else st.just(frozenset())
)


def _renamed_high_path():
    # The default policy uses the same keys on every path, so band changes map by key. This
    # variant's high path has its own keys and days, so band changes must map by position.
    # It also lets the policy waive approval everywhere: consumers must still get it.
    doc = DEFAULT.model_dump(mode="json")
    for i, step in enumerate(doc["paths"]["high"]["steps"]):
        step["key"] = f"h{i}"
        step["after_days"] = step["after_days"] + i
    for path in doc["paths"].values():
        for step in path["steps"]:
            step["requires_approval"] = False
    return type(DEFAULT).model_validate(doc)


RENAMED = _renamed_high_path()


@st.composite
def policies(draw):
    return draw(base_policies()).model_copy(update={"entry": Entry(by_age_after_days=draw(entries))})


entries = st.sampled_from([60, 60, None, 0, 30])  # the default's, first_step, by_age, another threshold


@st.composite
def base_policies(draw):
    choice = draw(st.integers(0, 2))
    if choice < 2:
        return (DEFAULT, RENAMED)[choice]
    start = draw(st.integers(0, 20))
    rules = ContactRules(
        window=ContactWindow(start=f"{start:02d}:00", end=f"{draw(st.integers(start + 1, 23)):02d}:59"),
        business_days_only=draw(st.booleans()),
        min_days_between_contacts=draw(st.integers(1, 6)),
        max_contacts_per_7_days=draw(st.integers(1, 7)),
    )
    return DEFAULT.model_copy(update={"contact": rules})


@st.composite
def cases(draw, policy, now):
    tz, country = draw(st.sampled_from(ZONES))
    customer = CustomerView(
        tz=tz,
        country=country,
        kind=draw(st.sampled_from(["business", "consumer"])),
        excluded=draw(st.integers(0, 9)) == 0,
        hold_until=draw(sometimes(st.integers(-10, 10).map(lambda d: now + timedelta(days=d)))),
        refused_channels=draw(blocked),
        invalid_channels=draw(blocked),
        opted_out_channels=draw(blocked),
    )
    today = now.date()
    invoices = tuple(
        InvoiceView(i, f"F-{i}", today - timedelta(days=late), balance, disputed)
        for i, (late, balance, disputed) in enumerate(
            draw(
                st.lists(
                    st.tuples(
                        st.integers(-10, 120),
                        st.sampled_from([0, 1, 15_00, 99_99, 250_00, 1_000_00, 10_000_00]),
                        st.integers(0, 4).map(lambda n: n == 0),
                    ),
                    min_size=1,
                    max_size=4,
                )
            )
        )
    )
    owed = [i.due_on for i in invoices if i.balance_minor and not i.disputed]
    anchor = draw(st.sampled_from([None, min(owed + [i.due_on for i in invoices])]))
    band = draw(st.sampled_from(["low", "medium", "high"]))
    path_name = draw(st.sampled_from([band, band, "low", "medium", "high"]))
    steps = policy.paths[path_name].steps
    index = draw(st.integers(-1, len(steps) - 1))
    progress = {}
    if index >= 0:
        progress = dict(
            path_name=path_name,
            current_step_index=index,
            current_step_key=steps[index].key,
            current_step_after_days=steps[index].after_days,
            current_step_at=draw(
                st.one_of(st.none(), st.integers(1, 40).map(lambda d: now - timedelta(days=d, hours=3)))
            ),
        )
    contacts = draw(st.lists(st.tuples(st.integers(0, 30 * 24), st.sampled_from(CHANNELS)), max_size=6))
    return CaseView(
        case_id=1,
        currency=draw(st.sampled_from(["EUR", "EUR", "GBP", "JPY"])),
        state=draw(st.sampled_from(["active"] * 6 + ["paused", "escalated", "closed"])),
        invoices=invoices,
        customer=customer,
        contacts=tuple(ContactView(now - timedelta(hours=h), ch) for h, ch in contacts),
        band=band,
        anchor_due_on=anchor,
        paused_until=draw(sometimes(st.integers(-10, 10).map(lambda d: now + timedelta(days=d)))),
        pending_step=draw(st.integers(0, 5)) == 0,
        **progress,
    )


@st.composite
def scenarios(draw):
    policy, now = draw(policies()), draw(moments)
    return policy, draw(cases(policy, now)), now


@FAST
@given(scenarios())
def test_a_planned_message_obeys_every_rule(scenario):
    policy, case, now = scenario
    d = decide(case, policy, now)
    if d.action != "plan":
        return
    customer, rules = case.customer, policy.contact
    path = policy.paths[d.step.path]
    step = path.steps[d.step.index]
    assert case.state == "active" and not customer.excluded and not case.pending_step
    assert customer.hold_until is None or customer.hold_until <= now
    # one step at a time
    if case.current_step_index < 0:
        assert d.step.index == 0
    elif d.step.path == case.path_name:
        assert d.step.index == case.current_step_index + 1
    # when: not before now, not before its day, inside the window, and within the caps
    at = d.send_not_before
    assert at >= now
    assert calendar.in_window(at, customer.tz, rules.window, rules.business_days_only, customer.country)
    day = calendar.local_date(at, customer.tz)
    assert day >= d.anchor_due_on + timedelta(days=step.after_days)
    if step.after_days < 0:
        assert day <= d.anchor_due_on  # a pre-due step never arrives after the due date
    contact_days = {calendar.local_date(c.at, customer.tz) for c in case.contacts}
    assert all((day - c).days >= rules.min_days_between_contacts for c in contact_days)
    assert len([c for c in contact_days if (day - c).days < 7]) < rules.max_contacts_per_7_days
    # how: usable channels only, or a call task
    blocked = customer.refused_channels | customer.opted_out_channels | customer.invalid_channels
    assert d.channels
    if d.fallback:
        assert d.channels == ("task",) and d.kind == "call_task"
        assert all(c in blocked for c in step.channels if c != "task")
    else:
        assert set(d.channels) <= set(step.channels)
        assert not (set(d.channels) - {"task"}) & blocked
    if customer.kind == "consumer" and d.kind in ("registered_letter", "agency_handoff"):
        assert d.requires_approval
    # what: undisputed money actually owed, at least the step's minimum
    assert d.invoices and all(i.balance_minor > 0 and not i.disputed for i in d.invoices)
    assert d.amount_minor == sum(i.balance_minor for i in d.invoices)
    minimum = step.min_amount_minor(case.currency)
    assert minimum is None or d.amount_minor >= minimum


@FAST
@given(scenarios())
def test_cases_that_are_not_active_are_never_messaged(scenario):
    policy, case, now = scenario
    d = decide(case, policy, now)
    if case.state != "active" or case.customer.excluded or (case.customer.hold_until or now) > now:
        assert d.action in ("none", "close")
    if case.state == "closed":
        assert d.action == "none"
    assert d.reason.startswith(f"[{d.rule}] ")


@FAST
@given(scenarios(), st.lists(st.tuples(st.integers(0, 3), st.integers(0, 99)), max_size=4))
def test_payments_never_move_the_timing_of_the_next_step(scenario, payments):
    policy, case, now = scenario
    case = replace(case, state="active", anchor_due_on=case.anchor_due_on or date(2025, 2, 20))
    paid = list(case.invoices)
    for which, percent in payments:
        if paid:
            i = which % len(paid)
            paid[i] = replace(paid[i], balance_minor=paid[i].balance_minor * percent // 100)
    before, after = decide(case, policy, now), decide(replace(case, invoices=tuple(paid)), policy, now)
    assert after.anchor_due_on == before.anchor_due_on == case.anchor_due_on
    if before.step and after.step:
        assert after.step == before.step  # the same next step: never re-triggered, never jumped
        if before.due_on and after.due_on:
            assert after.due_on == before.due_on


@FAST
@given(scenarios(), st.sampled_from(["low", "medium", "high"]))
def test_rescoring_never_goes_back_nor_repeats_a_step(scenario, new_band):
    policy, case, now = scenario
    if case.current_step_index < 0:
        return
    d = decide(replace(case, band=new_band), policy, now)
    if d.step is None or d.step.path == case.path_name:
        return
    path = policy.paths[d.step.path]
    if path.index_of(case.current_step_key) is not None:
        assert d.step.index == path.index_of(case.current_step_key) + 1  # continues after the same key
    else:
        assert d.step.after_days > case.current_step_after_days
        assert all(s.after_days <= case.current_step_after_days for s in path.steps[: d.step.index])


@FAST
@given(scenarios(), st.integers(1, 90))
def test_preview_sends_are_in_order_spaced_and_inside_the_window(scenario, days):
    policy, case, now = scenario
    sends = preview([replace(case, pending_step=False)], policy, now, days)
    customer, rules = case.customer, policy.contact
    indexes = [s.step.index for s in sends]
    assert indexes == sorted(set(indexes))
    local_days = [calendar.local_date(s.send_at, customer.tz) for s in sends]
    for earlier, later in zip(local_days, local_days[1:]):
        assert (later - earlier).days >= rules.min_days_between_contacts
    for s in sends:
        assert now <= s.send_at < now + timedelta(days=days)
        assert calendar.in_window(s.send_at, customer.tz, rules.window, rules.business_days_only, customer.country)
    # consecutive steps, except pre-due steps passed over
    path = policy.paths[sends[0].step.path] if sends else None
    for a, b in zip(indexes, indexes[1:]):
        assert all(path.steps[i].after_days < 0 for i in range(a + 1, b))


@FAST
@given(scenarios())
def test_decide_is_a_pure_function_of_its_inputs(scenario):
    policy, case, now = scenario
    assert decide(case, policy, now) == decide(case, policy, now)


def _new(case: CaseView) -> CaseView:
    return replace(
        case,
        path_name=None,
        policy_version=None,
        current_step_index=-1,
        current_step_key=None,
        current_step_after_days=None,
        current_step_at=None,
    )


def _entered(path, late: int, amount: int, currency: str) -> int:
    """The step R15 enters at, written out again: the last one due whose minimum is reached."""
    due = [
        i
        for i, s in enumerate(path.steps)
        if s.after_days <= late and (s.min_amount_minor(currency) is None or amount >= s.min_amount_minor(currency))
    ]
    return max(due, default=0)


@FAST
@given(scenarios())
def test_a_new_case_enters_by_age_only_past_the_threshold_at_the_last_step_it_can(scenario):
    policy, case, now = scenario
    case = _new(case)
    d = decide(case, policy, now)
    if d.action in ("none", "close") or d.rule == "pending":
        return
    threshold, today = policy.entry.by_age_after_days, calendar.local_date(now, case.customer.tz)
    late = (today - d.anchor_due_on).days
    listed = to_list(case.invoices, today, d.anchor_due_on)
    path = policy.paths[d.step.path]
    expected = 0
    if threshold is not None and late > threshold and listed:
        expected = _entered(path, late, sum(i.balance_minor for i in listed), case.currency)
    if expected == 0:
        assert d.rule != "entry_by_age" and d.step.index == 0
        return
    # every step before the one entered is passed over in one decision that names them all
    assert (d.action, d.rule) == ("pass", "entry_by_age")
    assert [s.index for s in d.passed_over] == list(range(expected))
    assert all(s.name in d.reason for s in d.passed_over)
    assert all(d.anchor_due_on + timedelta(days=s.after_days) <= today for s in d.passed_over)
    # ... and the entered step is decided next, like any other
    after = decide(record_step(case, d), policy, now)
    assert after.step.index == expected and after.rule != "entry_by_age"


@FAST
@given(scenarios())
def test_the_next_send_shown_for_a_step_not_yet_due_is_what_the_engine_plans_on_that_day(scenario):
    policy, case, now = scenario
    case = replace(
        case, state="active", pending_step=False, customer=replace(case.customer, excluded=False, hold_until=None)
    )
    d = decide(case, policy, now)
    if d.rule != "not_due":
        return
    shown = next_send(case, policy, now)
    if shown is None or shown.step != d.step:
        return  # passed over (R7) or waiting for money (R8) when the day comes
    assert calendar.local_date(shown.send_at, case.customer.tz) >= d.due_on
    then = decide(case, policy, shown.send_at)
    assert (then.action, then.step, then.send_not_before) == ("plan", d.step, shown.send_at)
