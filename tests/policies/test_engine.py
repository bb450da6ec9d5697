"""Each rule of dunning/policies/engine.py (R1..R13), one small case at a time.

The fixture world: a French business customer in Europe/Paris (UTC+1 until 30 March 2025, UTC+2
after), a policy with a 08:00-20:00 window on business days, 2 days between contacts, at most 3
contact days in 7, and an anchor due date of Monday 3 March 2025.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import pytest

from dunning.policies.document import Entry, parse_policy
from dunning.policies.engine import (
    CaseView,
    ContactView,
    CustomerView,
    InvoiceView,
    anchor_for,
    decide,
    next_send,
    preview,
    promise_pause_until,
    promise_pauses,
    record_step,
    still_owed,
)

POLICY_YAML = """
name: unit
bands:
  - {name: low, below: 0.3}
  - {name: high}
paths:
  low:
    steps:
      - {key: nudge, after_days: -3, kind: reminder, channels: [email]}
      - {key: r1, after_days: 3, kind: reminder, channels: [email]}
      - {key: r2, after_days: 10, kind: reminder, channels: [email, sms]}
      - {key: notice, after_days: 20, kind: formal_notice, channels: [email, letter], fees: true,
         min_amount: {EUR: "50.00"}}
      - {key: registered, after_days: 30, kind: registered_letter, channels: [letter], requires_approval: false}
      - {key: agency, after_days: 60, kind: agency_handoff, channels: [letter], requires_approval: false}
  high:
    steps:
      - {key: r1, after_days: 1, kind: reminder, channels: [email, sms]}
      - {key: call, after_days: 4, kind: call_task, channels: [task]}
      - {key: notice, after_days: 7, kind: formal_notice, channels: [email, letter]}
      - {key: registered, after_days: 14, kind: registered_letter, channels: [letter]}
      - {key: agency, after_days: 30, kind: agency_handoff, channels: [letter]}
contact:
  window: {start: "08:00", end: "20:00"}
  business_days_only: true
  min_days_between_contacts: 2
  max_contacts_per_7_days: 3
"""
POLICY = parse_policy(POLICY_YAML).model_copy(update={"version": 3})
ANCHOR = date(2025, 3, 3)  # a Monday
PARIS = CustomerView(tz="Europe/Paris", country="FR", kind="business")
LOW = [s.key for s in POLICY.paths["low"].steps]


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def inv(n: int, due: date = ANCHOR, amount: int = 100_00, disputed: bool = False) -> InvoiceView:
    return InvoiceView(n, f"F-{n}", due, amount, disputed)


def case(**kw) -> CaseView:
    defaults = dict(case_id=1, currency="EUR", state="active", invoices=(inv(1),), customer=PARIS, band="low")
    return CaseView(**{**defaults, **kw})


def at_step(key: str, sent_at: datetime | None = None, path: str = "low", **kw) -> CaseView:
    """A case whose last planned step is `key`, sent at `sent_at`, anchored on ANCHOR."""
    steps = POLICY.paths[path].steps
    index = [s.key for s in steps].index(key)
    contacts = kw.pop("contacts", (ContactView(sent_at, "email"),) if sent_at else ())
    return case(
        path_name=path,
        policy_version=3,
        current_step_index=index,
        current_step_key=key,
        current_step_after_days=steps[index].after_days,
        current_step_at=sent_at,
        anchor_due_on=ANCHOR,
        contacts=contacts,
        **kw,
    )


def sent(c: CaseView, d) -> CaseView:
    """What the cycle does after a plan: store the step, and later the message goes out."""
    c = record_step(c, d)
    if d.action == "plan":
        c = replace(
            c, pending_step=False, contacts=(*c.contacts, *(ContactView(d.send_not_before, ch) for ch in d.channels))
        )
    return c


# ---- R1, R2: closed, escalated, paid ---------------------------------------------------------------


def test_closed_case_is_never_messaged():
    d = decide(case(state="closed", anchor_due_on=ANCHOR), POLICY, utc(2025, 4, 1, 10))
    assert (d.action, d.rule) == ("none", "closed")


def test_escalated_case_is_silent_but_closes_once_paid():
    d = decide(at_step("agency", utc(2025, 5, 2, 7), state="escalated"), POLICY, utc(2025, 6, 1, 10))
    assert (d.action, d.rule) == ("none", "escalated")
    paid = at_step("agency", utc(2025, 5, 2, 7), state="escalated", invoices=(inv(1, amount=0),))
    assert decide(paid, POLICY, utc(2025, 6, 1, 10)).should_close


def test_case_closes_when_everything_overdue_is_paid_even_with_invoices_not_yet_due():
    c = at_step("r1", utc(2025, 3, 6, 7), invoices=(inv(1, amount=0), inv(2, due=date(2025, 3, 20))))
    d = decide(c, POLICY, utc(2025, 3, 13, 10))
    assert d.should_close and d.rule == "paid"


def test_a_dispute_is_not_a_payment_the_case_stays_open_and_silent():
    c = at_step("r1", utc(2025, 3, 6, 7), invoices=(inv(1, disputed=True),))
    d = decide(c, POLICY, utc(2025, 3, 20, 10))
    assert (d.action, d.rule) == ("none", "disputed")
    assert not d.should_close


def test_disputed_invoices_are_not_listed():
    c = at_step("r1", utc(2025, 3, 6, 7), invoices=(inv(1, disputed=True), inv(2, due=date(2025, 3, 5))))
    d = decide(c, POLICY, utc(2025, 3, 13, 10))
    assert d.action == "plan"
    assert [i.number for i in d.invoices] == ["F-2"]
    assert d.amount_minor == 100_00


# ---- R3: the anchor ---------------------------------------------------------------------------------


def test_anchor_is_the_oldest_undisputed_overdue_due_date():
    invoices = [
        inv(1, date(2025, 3, 1), disputed=True),
        inv(2, date(2025, 3, 20)),
        inv(3, date(2025, 3, 10)),
        inv(4, date(2025, 2, 1), amount=0),
    ]
    assert anchor_for(invoices, date(2025, 3, 25)) == date(2025, 3, 10)


def test_invoice_due_today_is_not_overdue_but_a_pre_due_path_anchors_on_it():
    invoices = [inv(1, ANCHOR)]
    assert anchor_for(invoices, ANCHOR) is None
    assert anchor_for(invoices, date(2025, 2, 28), lead_days=3) == ANCHOR
    assert anchor_for(invoices, date(2025, 2, 27), lead_days=3) is None


def test_an_existing_anchor_always_wins():
    assert anchor_for([inv(1, date(2025, 1, 1))], date(2025, 3, 25), current=ANCHOR) == ANCHOR


def test_part_payment_changing_the_oldest_invoice_does_not_move_the_anchor():
    # F-1 (the anchor) is paid off; F-2, due two days later, is now the oldest overdue.
    c = at_step("r1", utc(2025, 3, 6, 7), invoices=(inv(1, amount=0), inv(2, due=date(2025, 3, 5))))
    d = decide(c, POLICY, utc(2025, 3, 13, 10))
    assert d.anchor_due_on == ANCHOR
    assert (d.action, d.step.key, d.due_on) == ("plan", "r2", date(2025, 3, 13))  # anchor + 10, not 3/5 + 10
    assert not still_owed([inv(1, amount=0)], date(2025, 3, 13), ANCHOR)


def test_a_new_overdue_invoice_joins_the_next_message_without_restarting_the_path():
    c = at_step("r1", utc(2025, 3, 6, 7), invoices=(inv(1), inv(2, due=date(2025, 3, 10), amount=30_00)))
    d = decide(c, POLICY, utc(2025, 3, 13, 10))
    assert (d.step.key, d.step.index) == ("r2", 2)
    assert [i.number for i in d.invoices] == ["F-1", "F-2"]
    assert d.amount_minor == 130_00


# ---- R4: excluded, paused, hold --------------------------------------------------------------------


def test_excluded_customer_gets_nothing():
    d = decide(at_step("r1", utc(2025, 3, 6, 7), customer=replace(PARIS, excluded=True)), POLICY, utc(2025, 4, 1, 10))
    assert (d.action, d.rule) == ("none", "excluded")


def test_paused_case_gets_nothing_and_says_until_when():
    until = utc(2025, 3, 24, 6)
    d = decide(at_step("r1", utc(2025, 3, 6, 7), state="paused", paused_until=until), POLICY, utc(2025, 3, 20, 10))
    assert (d.action, d.rule, d.next_check_at) == ("none", "paused", until)
    # Even after its end date: resuming is the arrangements job's decision, not a side effect here.
    assert (
        decide(at_step("r1", utc(2025, 3, 6, 7), state="paused", paused_until=until), POLICY, utc(2025, 4, 1)).action
        == "none"
    )


def test_customer_hold_blocks_until_it_ends():
    c = at_step("r1", utc(2025, 3, 6, 7), customer=replace(PARIS, hold_until=utc(2025, 3, 20)))
    assert decide(c, POLICY, utc(2025, 3, 19, 10)).rule == "hold"
    assert decide(c, POLICY, utc(2025, 3, 20, 10)).action == "plan"


def test_resume_plans_only_the_next_step_and_the_rest_keep_their_spacing():
    # r1 went out on 6 March; paused until 10 April, when r2 and the notice are both overdue.
    c = at_step("r1", utc(2025, 3, 6, 7))
    now = utc(2025, 4, 10, 10)  # Thursday, 12:00 in Paris
    d = decide(c, POLICY, now)
    assert (d.action, d.step.key, d.send_not_before) == ("plan", "r2", now)
    c = sent(c, d)
    d = decide(c, POLICY, now)
    assert (d.action, d.rule, d.step.key, d.due_on) == ("wait", "not_due", "notice", date(2025, 4, 12))
    assert "catch-up" in d.reason
    d = decide(c, POLICY, utc(2025, 4, 12, 10))  # Saturday: planned, sent on Monday at 08:00
    assert (d.action, d.step.key, d.send_not_before) == ("plan", "notice", utc(2025, 4, 14, 6))


# ---- R5: band and policy changes ----------------------------------------------------------------------


def test_band_change_continues_after_the_same_key_on_the_new_path():
    d = decide(at_step("notice", utc(2025, 3, 24, 7), band="high"), POLICY, utc(2025, 4, 1, 10))
    assert (d.step.path, d.step.key, d.step.index) == ("high", "registered", 3)
    assert "path changed 'low' -> 'high'" in d.reason


def test_band_change_without_the_key_continues_after_the_same_day():
    # r2 (day 10) has no twin on the high path: its steps up to day 10 count as done.
    d = decide(at_step("r2", utc(2025, 3, 13, 7), band="high"), POLICY, utc(2025, 3, 18, 10))
    assert (d.step.key, d.step.index, d.due_on) == ("registered", 3, date(2025, 3, 17))
    assert "first step after day 10" in d.reason


def test_policy_change_maps_by_key_then_by_position():
    text = POLICY_YAML.replace(
        "      - {key: r2, after_days: 10,",
        "      - {key: r1b, after_days: 6, kind: reminder, channels: [sms]}\n      - {key: second, after_days: 10,",
    )
    v4 = parse_policy(text).model_copy(update={"version": 4})
    d = decide(at_step("r1", utc(2025, 3, 6, 7)), v4, utc(2025, 3, 10, 10))
    assert (d.step.key, d.step.index) == ("r1b", 2)
    assert "policy changed v3 -> v4" in d.reason
    d = decide(at_step("r2", utc(2025, 3, 13, 7)), v4, utc(2025, 3, 24, 10))  # "r2" is now called "second"
    assert (d.step.key, d.step.index) == ("notice", 4)


def test_unknown_band_is_reported_not_guessed():
    d = decide(at_step("r1", utc(2025, 3, 6, 7), band="extreme"), POLICY, utc(2025, 3, 20, 10))
    assert (d.action, d.rule) == ("none", "no_path")


def test_end_of_path():
    d = decide(at_step("agency", utc(2025, 5, 2, 7)), POLICY, utc(2025, 6, 1, 10))
    assert (d.action, d.rule) == ("none", "path_complete")


# ---- R6: one step at a time ---------------------------------------------------------------------------


def test_nothing_new_while_the_previous_message_is_pending():
    d = decide(at_step("r1", utc(2025, 3, 6, 7), pending_step=True), POLICY, utc(2025, 4, 1, 10))
    assert (d.action, d.rule) == ("wait", "pending")


def test_waits_for_the_due_day_in_the_customers_time_zone():
    d = decide(at_step("nudge", utc(2025, 2, 28, 7)), POLICY, utc(2025, 3, 4, 10))
    assert (d.action, d.step.key, d.due_on) == ("wait", "r1", date(2025, 3, 6))
    assert d.next_check_at == utc(2025, 3, 5, 23)  # midnight in Paris
    assert decide(at_step("nudge", utc(2025, 2, 28, 7)), POLICY, utc(2025, 3, 5, 23, 30)).action == "plan"


def test_case_found_late_moves_one_step_at_a_time_with_catch_up_spacing():
    c = case(invoices=(inv(1),))
    now = utc(2025, 4, 7, 9)  # Monday, five weeks after the due date
    timeline = []
    for _ in range(20):
        d = decide(c, POLICY, now)
        if d.action in ("plan", "pass"):
            timeline.append((d.action, d.step.index, d.step.key, d.send_not_before))
            c = sent(c, d)
        elif d.action == "wait" and d.rule == "not_due":
            now = max(now, d.next_check_at) + timedelta(hours=10)
        else:
            break
    assert timeline == [
        ("pass", 0, "nudge", None),  # R7: too late for a pre-due nudge
        ("plan", 1, "r1", utc(2025, 4, 7, 9)),
        ("plan", 2, "r2", utc(2025, 4, 9, 8)),  # 2 days later, not all at once
        ("plan", 3, "notice", utc(2025, 4, 11, 8)),
        ("plan", 4, "registered", utc(2025, 4, 14, 6)),  # due Sunday 13th: Monday 08:00
        ("plan", 5, "agency", utc(2025, 5, 2, 8)),  # anchor + 60 (2 May): the original timing again
    ]


# ---- R15: where a new case enters its path ----------------------------------------------------------

BY_AGE = POLICY.model_copy(update={"entry": Entry(by_age_after_days=60)})


def test_a_backlog_walks_the_whole_path_from_the_first_step_by_default():
    assert POLICY.entry.by_age_after_days is None  # entry: first_step, the default
    c = case(anchor_due_on=ANCHOR)
    d = decide(c, POLICY, utc(2025, 12, 3, 10))  # 275 days late
    assert (d.action, d.rule, d.passed_over) == ("pass", "pre_due_passed", (d.step,))
    assert (decide(record_step(c, d), POLICY, utc(2025, 12, 3, 10)).step.key) == "r1"


def test_a_backlog_enters_at_the_last_step_already_due_and_says_what_it_passed_over():
    c = case(anchor_due_on=ANCHOR)
    now = utc(2025, 12, 3, 10)  # Wednesday, 275 days after the due date
    d = decide(c, BY_AGE, now)
    assert (d.action, d.rule, d.step.key) == ("pass", "entry_by_age", "registered")
    assert [s.key for s in d.passed_over] == LOW[:5]
    assert "275 days late" in d.reason and "'Reminder 2' (day +3)" in d.reason  # names from the kind
    assert "enters at 'Agency hand-off' (day +60)" in d.reason
    planned = decide(record_step(c, d), BY_AGE, now)
    assert (planned.action, planned.step.key, planned.send_not_before) == ("plan", "agency", now)
    assert planned.escalates and not planned.requires_approval  # this policy waives approval for businesses


def test_entry_by_age_is_still_subject_to_approval_and_contact_rules():
    consumer = replace(PARIS, kind="consumer")
    yesterday = (ContactView(utc(2025, 12, 2, 9), "email"),)  # min 2 days between contacts
    c = case(anchor_due_on=ANCHOR, customer=consumer, contacts=yesterday)
    now = utc(2025, 12, 3, 10)
    d = decide(record_step(c, decide(c, BY_AGE, now)), BY_AGE, now)
    assert (d.step.key, d.requires_approval) == ("agency", True)  # R11: consumers, whatever the policy says
    assert d.send_not_before == utc(2025, 12, 4, 7)  # Thursday 08:00 in Paris, two days after the last contact


def test_entry_by_age_waits_for_its_threshold():
    c = case(anchor_due_on=ANCHOR)
    day_60 = utc(2025, 5, 2, 10)  # exactly 60 days late: not more
    assert decide(c, BY_AGE, day_60).rule == "pre_due_passed"
    assert decide(c, BY_AGE, day_60 + timedelta(days=1)).rule == "entry_by_age"


def test_entry_by_age_does_not_enter_at_a_step_whose_minimum_is_not_reached():
    always = POLICY.model_copy(update={"entry": Entry(by_age_after_days=0)})
    c = case(anchor_due_on=ANCHOR, invoices=(inv(1, amount=40_00),))
    d = decide(c, always, utc(2025, 3, 25, 10))  # 22 days late: the notice (day 20, EUR 50) is due
    assert [s.key for s in d.passed_over] == ["nudge", "r1"]
    assert "not entered at 'Formal notice': 40.00 EUR is below its minimum of 50.00 EUR" in d.reason
    assert decide(record_step(c, d), always, utc(2025, 3, 25, 10)).step.key == "r2"


def test_entry_by_age_applies_only_to_a_case_with_no_step_yet_and_something_to_ask_for():
    now = utc(2025, 12, 3, 10)
    assert decide(at_step("r1", utc(2025, 3, 6, 7)), BY_AGE, now).step.key == "r2"  # one step at a time (R6)
    disputed = case(anchor_due_on=ANCHOR, invoices=(inv(1, disputed=True),))
    assert decide(disputed, BY_AGE, now).rule == "disputed"  # R9: nothing to ask for, nothing passed over


def test_the_preview_shows_a_backlog_entering_by_age():
    sends = preview([case(anchor_due_on=ANCHOR)], BY_AGE, utc(2025, 12, 3, 10), 30)
    assert [(s.step.key, s.send_at) for s in sends] == [("agency", utc(2025, 12, 3, 10))]
    assert next_send(case(anchor_due_on=ANCHOR), BY_AGE, utc(2025, 12, 3, 10)) == sends[0]


# ---- R7: pre-due steps --------------------------------------------------------------------------------


def test_pre_due_nudge_goes_out_before_the_due_date():
    d = decide(case(), POLICY, utc(2025, 2, 28, 10))
    assert (d.action, d.step.key, d.anchor_due_on, d.send_not_before) == ("plan", "nudge", ANCHOR, utc(2025, 2, 28, 10))
    assert [i.number for i in d.invoices] == ["F-1"]


def test_pre_due_nudge_may_go_out_on_the_due_date():
    d = decide(case(), POLICY, utc(2025, 3, 1, 10))  # Saturday: first contact moment is Monday 3rd, 08:00
    assert (d.action, d.send_not_before) == ("plan", utc(2025, 3, 3, 7))


def test_pre_due_nudge_is_passed_over_once_too_late():
    d = decide(case(anchor_due_on=ANCHOR), POLICY, utc(2025, 3, 4, 10))
    assert (d.action, d.rule, d.step.index) == ("pass", "pre_due_passed", 0)
    assert "2025-03-03" in d.reason


def test_pre_due_nudge_is_passed_over_when_contact_rules_push_it_past_the_due_date():
    recent = (ContactView(utc(2025, 3, 2, 9), "email"),)  # min 2 days: nothing before 4 March
    d = decide(case(anchor_due_on=ANCHOR, contacts=recent), POLICY, utc(2025, 2, 28, 10))
    assert d.action == "pass"


# ---- R8: minimum amounts ---------------------------------------------------------------------------------


def test_step_below_minimum_waits_and_is_not_skipped():
    c = at_step("r2", utc(2025, 3, 13, 7), invoices=(inv(1, amount=40_00),))
    d = decide(c, POLICY, utc(2025, 3, 25, 10))
    assert (d.action, d.rule, d.step.key) == ("wait", "below_minimum", "notice")
    assert "40.00 EUR" in d.reason and "50.00 EUR" in d.reason
    # A month later it still waits on the notice: the registered letter is not reached around it.
    assert decide(c, POLICY, utc(2025, 4, 25, 10)).step.key == "notice"
    more = replace(c, invoices=(inv(1, amount=40_00), inv(2, due=date(2025, 4, 20), amount=20_00)))
    d = decide(more, POLICY, utc(2025, 4, 25, 10))
    assert (d.action, d.step.key, d.amount_minor) == ("plan", "notice", 60_00)


def test_minimum_applies_only_to_its_currency():
    c = at_step("r2", utc(2025, 3, 13, 7), invoices=(inv(1, amount=1_00),), currency="GBP")
    assert decide(c, POLICY, utc(2025, 3, 25, 10)).action == "plan"


# ---- R10, R11: channels and approval -------------------------------------------------------------------


def test_opted_out_channel_is_dropped_and_said_so():
    c = at_step("r1", utc(2025, 3, 6, 7), customer=replace(PARIS, opted_out_channels=frozenset({"sms"})))
    d = decide(c, POLICY, utc(2025, 3, 13, 10))
    assert d.channels == ("email",)
    assert "sms (opted out)" in d.reason


def test_no_channel_left_falls_back_to_a_call_task():
    customer = replace(PARIS, invalid_channels=frozenset({"email"}), refused_channels=frozenset({"sms"}))
    d = decide(at_step("r1", utc(2025, 3, 6, 7), customer=customer), POLICY, utc(2025, 3, 13, 10))
    assert (d.action, d.kind, d.channels, d.fallback, d.step.key) == ("plan", "call_task", ("task",), True, "r2")


def test_consumers_always_need_approval_for_registered_letters_and_agency():
    consumer = replace(PARIS, kind="consumer")
    d = decide(at_step("notice", utc(2025, 3, 24, 7)), POLICY, utc(2025, 4, 2, 10))
    assert (d.step.key, d.requires_approval) == ("registered", False)  # business: as the policy says
    d = decide(at_step("notice", utc(2025, 3, 24, 7), customer=consumer), POLICY, utc(2025, 4, 2, 10))
    assert (d.step.key, d.requires_approval) == ("registered", True)
    assert "consumer" in d.reason
    d = decide(at_step("registered", utc(2025, 4, 2, 7), customer=consumer), POLICY, utc(2025, 5, 2, 10))
    assert (d.step.key, d.requires_approval, d.escalates) == ("agency", True, True)


def test_heavy_steps_default_to_approval():
    d = decide(at_step("notice", utc(2025, 3, 10, 7), path="high", band="high"), POLICY, utc(2025, 3, 17, 10))
    assert (d.step.key, d.requires_approval) == ("registered", True)


def test_a_registered_letter_without_a_postal_address_becomes_a_call_not_an_escalation():
    customer = replace(PARIS, invalid_channels=frozenset({"letter"}))
    d = decide(at_step("registered", utc(2025, 4, 2, 7), customer=customer), POLICY, utc(2025, 5, 2, 10))
    assert (d.kind, d.escalates, d.requires_approval) == ("call_task", False, False)


# ---- R12: contact rules ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "now, expected",
    [
        (utc(2025, 3, 13, 19, 30), utc(2025, 3, 14, 7)),  # 20:30 in Paris: tomorrow 08:00
        (utc(2025, 3, 15, 10), utc(2025, 3, 17, 7)),  # Saturday: Monday
        (utc(2025, 4, 20, 10), utc(2025, 4, 22, 6)),  # Sunday before Easter Monday: Tuesday, in summer time
    ],
)
def test_send_time_respects_window_weekends_and_holidays(now, expected):
    d = decide(at_step("r1", utc(2025, 3, 6, 7)), POLICY, now)
    assert d.send_not_before == expected


def test_min_days_between_contacts_on_any_channel():
    contacts = (ContactView(utc(2025, 3, 6, 7), "email"), ContactView(utc(2025, 3, 12, 16), "letter"))
    d = decide(at_step("r1", utc(2025, 3, 6, 7), contacts=contacts), POLICY, utc(2025, 3, 13, 10))
    assert (d.action, d.send_not_before) == ("plan", utc(2025, 3, 14, 7))  # 12th + 2 days, at 08:00


def test_seven_day_cap_counts_contact_days_and_pushes_the_send():
    contacts = tuple(ContactView(utc(2025, 3, day, 9), "email") for day in (11, 13, 15)) + (
        ContactView(utc(2025, 3, 15, 9, 1), "sms"),  # same day as the email: one contact
    )
    d = decide(at_step("r1", utc(2025, 3, 6, 7), contacts=contacts), POLICY, utc(2025, 3, 17, 10))
    # 17th: the 11th, 13th and 15th are within 7 days (3 = cap). The 11th drops out on the 18th.
    assert d.send_not_before == utc(2025, 3, 18, 7)


# ---- R13: the reason -----------------------------------------------------------------------------------


def test_reason_names_rule_policy_version_band_and_path():
    d = decide(at_step("r1", utc(2025, 3, 6, 7)), POLICY, utc(2025, 3, 13, 10))
    assert d.reason.startswith("[planned] policy 'unit' v3, band low, path low:")
    assert "step 'r2' (reminder) due on 2025-03-13 (anchor 2025-03-03 +10 days)" in d.reason


def test_every_decision_is_explained():
    for state in ("active", "paused", "closed", "escalated"):
        for now in (utc(2025, 2, 20), utc(2025, 3, 4), utc(2025, 6, 1)):
            d = decide(case(state=state), POLICY, now)
            assert d.reason.startswith(f"[{d.rule}] policy 'unit' v3")


# ---- fees and promises -------------------------------------------------------------------------------


def test_only_steps_that_ask_for_fees_show_them():
    now = utc(2025, 4, 2, 10)
    reminder = decide(at_step("r1", utc(2025, 3, 6, 7)), POLICY, now)
    assert reminder.step.key == "r2" and not reminder.show_fees
    notice = decide(at_step("r2", utc(2025, 3, 13, 7)), POLICY, now)
    assert notice.step.key == "notice" and notice.show_fees


def test_promises_pause_until_the_grace_days_are_over_and_stop_pausing_after_too_many_broken():
    default_rules = POLICY.promises  # grace 2 days, max 2 broken
    assert (default_rules.grace_days, default_rules.max_broken) == (2, 2)
    assert promise_pause_until(POLICY, date(2025, 3, 21), "Europe/Paris") == utc(2025, 3, 23, 23)  # 24th, 00:00
    assert [promise_pauses(POLICY, n) for n in range(4)] == [True, True, False, False]


# ---- preview -------------------------------------------------------------------------------------------


def test_preview_lists_what_would_go_out_if_nobody_paid():
    later = case(case_id=2, band="high", invoices=(inv(7, date(2025, 3, 20)),), anchor_due_on=date(2025, 3, 20))
    sends = preview([case(), later], POLICY, utc(2025, 2, 28), 45)
    got = [(s.case_id, s.step.key, s.send_at) for s in sends]
    assert got == [
        (1, "nudge", utc(2025, 2, 28, 7)),
        (1, "r1", utc(2025, 3, 6, 7)),
        (1, "r2", utc(2025, 3, 13, 7)),
        (2, "r1", utc(2025, 3, 21, 7)),
        (1, "notice", utc(2025, 3, 24, 7)),  # due Sunday 23rd
        (2, "call", utc(2025, 3, 24, 7)),  # day 4, and 2 days after r1
        (2, "notice", utc(2025, 3, 27, 7)),
        (1, "registered", utc(2025, 4, 2, 6)),  # summer time: 08:00 in Paris is 06:00 UTC
        (2, "registered", utc(2025, 4, 3, 6)),
    ]  # agencies (2 May, 19 April) fall after the 45 days
    assert all(not s.requires_approval for s in sends if s.case_id == 1)
    assert [s.requires_approval for s in sends if s.case_id == 2][-1] is True


def test_preview_resumes_a_pause_when_it_ends_and_stops_at_escalation():
    paused = at_step("r2", utc(2025, 3, 13, 7), state="paused", paused_until=utc(2025, 4, 10, 9))
    sends = preview([paused], POLICY, utc(2025, 3, 20), 120)
    assert [(s.step.key, s.send_at) for s in sends] == [
        ("notice", utc(2025, 4, 10, 9)),
        ("registered", utc(2025, 4, 14, 6)),  # 2 days after the notice is Saturday 12th: Monday
        ("agency", utc(2025, 5, 2, 6)),
    ]


def test_preview_never_plans_in_the_past():
    sends = preview([at_step("r1", utc(2025, 3, 6, 7))], POLICY, utc(2025, 3, 1), 30, now=utc(2025, 3, 20, 12))
    assert sends[0].send_at == utc(2025, 3, 20, 12)
