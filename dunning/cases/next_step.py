"""What comes next for a case, as the desk says it: the next step by its name, the day it goes out
in the customer's calendar, and what holds the case back, in words. The day is the preview's own
answer (engine.next_send), so the customer page and the policy preview always agree: a step due
on a Sunday is shown on the Monday the contact rules send it. The engine's reason stays in the
audit log and the API (`why`), not on the page."""

from __future__ import annotations

from datetime import date, datetime

from dunning.cases.schemas import NextStep
from dunning.money import display
from dunning.outbox.models import AWAITING_APPROVAL, Message
from dunning.policies import calendar
from dunning.policies.document import Policy
from dunning.policies.engine import CaseView, Decision, decide, next_send
from dunning.words import weekday


def next_step(view: CaseView, policy: Policy, now: datetime, waiting: list[Message]) -> NextStep:
    """`waiting`: the case's messages not yet handed to a transport, earliest first."""
    d = decide(view, policy, now)
    tz = view.customer.tz
    if d.rule == "pending" and waiting:
        # the last step planned has not gone out: that message is what comes next
        m = next((m for m in waiting if m.step_key), waiting[0])
        approval = m.status == AWAITING_APPROVAL
        return NextStep(
            step=m.step_key,
            step_name=m.step_name or m.step_key,
            kind=m.kind,
            due_on=None,
            send_on=calendar.local_date(m.send_after, tz),
            requires_approval=approval,
            summary="waits for a manager's approval" if approval else "queued",
            why=d.reason,
        )
    send = next_send(view, policy, now)
    send_on = calendar.local_date(send.send_at, tz) if send else None
    step = send.step if send else d.step
    summary = in_words(d, policy, view, send_on)
    if send is not None and send.fallback:
        summary = "; ".join(filter(None, (summary, "no channel left to reach the customer: a call task replaces it")))
    return NextStep(
        step=step.key if step else None,
        step_name=step.name if step else None,
        kind=send.kind if send else d.kind or (d.step.kind if d.step else None),
        due_on=d.due_on,
        send_on=send_on,
        requires_approval=bool(send and send.requires_approval),
        summary=summary,
        why=d.reason,
    )


def in_words(d: Decision, policy: Policy, view: CaseView, send_on: date | None) -> str | None:
    """The decision for people: None when the step and its day say it all."""
    tz = view.customer.tz
    named = d.step.name if d.step else ""
    match d.rule:
        case "not_due" if send_on is not None and d.due_on is not None and send_on != d.due_on:
            return f"due on {weekday(d.due_on)}; the contact rules send it on {weekday(send_on)}"
        case "not_due" | "planned":
            return None
        case "paused":
            return (
                f"paused until {weekday(calendar.local_date(view.paused_until, tz))}"
                if view.paused_until
                else "paused until someone resumes the case"
            )
        case "hold":
            assert view.customer.hold_until is not None, "the engine holds only a customer with a hold date"
            return f"the customer is on hold until {weekday(calendar.local_date(view.customer.hold_until, tz))}"
        case "below_minimum":
            assert d.step is not None, "the engine names the step that waits for its minimum"
            step = policy.paths[d.step.path].steps[d.step.index]
            minimum = step.min_amount_minor(view.currency) or 0
            return f"{named} waits until {display(minimum, view.currency)} or more is overdue"
        case "entry_by_age":
            return "enters its path by age: " + ", ".join(s.name for s in d.passed_over) + " passed over"
        case "pre_due_passed":
            return f"{named} is passed over: it can no longer go out before the due date"
        case "pending":
            return "waits for the last step's message to go out"
    return WORDS.get(d.rule, d.rule.replace("_", " "))


WORDS = {
    "closed": "the case is closed",
    "paid": "nothing overdue is owed: the case closes",
    "escalated": "with the collection agency: nothing more is sent from here",
    "excluded": "the customer is excluded from dunning",
    "no_path": "the customer's risk band has no path in this policy: a person places the case",
    "path_complete": "every step of the path has been taken",
    "disputed": "everything overdue is disputed: nothing goes out until a dispute ends",
}
