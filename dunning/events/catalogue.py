"""The event types, each with what it means. README "Events" shows a payload of each; a test
checks that both lists agree with what the service really publishes. `INTERNAL` types are
in-process only: a lower layer tells a higher one, nothing is written or sent to webhooks."""

from __future__ import annotations

TYPES: dict[str, str] = {
    "case.opened": "an account with something overdue got a case (again, as a new episode, after one closed)",
    "case.step_planned": "the cycle planned the case's next step: its messages are queued or await approval",
    "case.paused": "the case stopped for a while: a promise, a plan, a hold or a review",
    "case.resumed": "a pause ended; the case goes on from its step",
    "case.escalated": "the case file reached the collection agency",
    "case.closed": "nothing overdue is owed any more",
    "message.sent": "a transport took the message (or a person confirmed one in doubt went out)",
    "message.failed": "the message will not go out: refused, out of attempts, or it could not be made",
    "message.in_doubt": "the message may or may not have gone out; a person decides",
    "approval.requested": "a step waits for a person's approval before its messages go out",
    "approval.decided": "a person approved or rejected a step",
    "reply.received": "a customer's email or SMS came in and was read",
    "promise.made": "the customer promised to pay by a date",
    "promise.kept": "the promised amount arrived in time (or nothing is owed any more)",
    "promise.broken": "the promised day and its grace days passed without the money",
    "plan.created": "an installment plan was set up",
    "plan.completed": "every installment of the plan was paid",
    "plan.defaulted": "an installment stayed unpaid past its grace days",
    "dispute.opened": "the customer contests an invoice; it leaves the reminders",
    "dispute.resolved": "a person resolved the dispute",
    "payment.received": "a payment was recorded in the ledger",
    "task.created": "work for a person",
    "task.assigned": "the task was given to someone (or to nobody)",
    "task.note_added": "someone noted what happened on the task",
    "task.done": "the task was completed",
    "task.reopened": "a task closed earlier is open again (the failure it reported came back)",
}

# One event per write however many rows it touched, so that bulk writers stay bulk.
INTERNAL: dict[str, str] = {
    "ledger.accounts_changed": "customers, invoices or contacts of these customers were written (data: customer_ids)",
}
