"""Months of simulated time for a small portfolio through the whole loop (ingest, cycle, approvals,
dispatch with the embedded transports), checked against the default policy step by step."""

from __future__ import annotations

from datetime import date, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select

from dunning.cases.models import Case
from dunning.ledger.models import Customer
from dunning.outbox.service import answer_approval
from dunning.tasks.models import Task
from tests.builders import customer, invoice
from tests.outbox.support import ADDRESS, cycle, dispatch, messages

PARIS = ZoneInfo("Europe/Paris")


def history(external_id: str, days_late: int) -> list[dict]:
    """Ten settled invoices paid `days_late` after their due date: what the risk band is read from."""
    rows = []
    for i in range(10):
        due = date(2025, 3, 1) + timedelta(days=30 * i)
        rows.append(
            invoice(
                f"{external_id}-H{i}",
                external_id,
                due=due,
                total="100.00",
                paid_on=(due + timedelta(days=days_late)).isoformat(),
            )
        )
    return rows


def test_two_customers_walk_their_paths_day_by_day(client, db, clock, settings):
    client.post(
        "/v1/customers/bulk",
        json={
            "customers": [customer("GOOD", address=ADDRESS), customer("LATE", address=ADDRESS, phone="+33698765432")]
        },
    )
    client.post(
        "/v1/invoices/bulk",
        json={
            "invoices": [
                *history("GOOD", 0),
                *history("LATE", 30),
                invoice("G1", "GOOD", due=date(2026, 3, 5), total="500.00"),
                invoice("L1", "LATE", due=date(2026, 3, 5), total="500.00"),
            ]
        },
    )
    while clock.now().date() < date(2026, 7, 1):
        cycle(db, clock, settings)
        while waiting := messages(db, status="awaiting_approval"):
            with db.session() as s:  # a manager approves heavy steps the day they come up
                answer_approval(s, clock, waiting[0].id, approve=True, actor="manager", note=None)
        dispatch(db, clock, settings)
        clock.advance(days=1)

    sent: dict[str, list[tuple[str, str, str]]] = {"GOOD": [], "LATE": []}
    with db.session() as s:
        cases = {c.id: c for c in s.execute(select(Case)).scalars()}
        tasks = list(s.execute(select(Task).where(Task.kind == "call")).scalars())
        external = dict(s.execute(select(Customer.id, Customer.external_id)).all())
    who = {c.id: external[c.customer_id] for c in cases.values()}
    for m in messages(db, status="sent"):
        sent[who[m.case_id]].append((m.step_key, m.channel, m.sent_at.astimezone(PARIS).date().isoformat()))
    for t in tasks:
        sent[who[t.case_id]].append(("call", "task", t.due_at.astimezone(PARIS).date().isoformat()))
    for key in sent:
        sent[key].sort(key=lambda row: (row[2], row[0], row[1]))
    assert sent == EXPECTED
    assert {c.band for c in cases.values()} == {"low", "high"}
    assert all(c.state == "escalated" for c in cases.values())


# Worked out from the default policy before the run. Both invoices are due Thursday 5 March 2026
# (the anchor); Paris time, business days, at least 3 days between contacts, 2 contact days a week.
# GOOD pays on time (low band): nudge at -3 (Mon 2 Mar); r1 at +3 is Sunday 8 Mar, so Monday 9;
# r2 at +14 (Thu 19); the notice at +30 is Saturday 4 Apr, Monday 6 Apr is Easter Monday (a French
# public holiday), so Tuesday 7; the call at +45 is Sunday 19 Apr, so Monday 20; the registered
# letter at +60 (Mon 4 May, approved that day); the hand-off at +90 (Wed 3 Jun).
# LATE pays 30 days late (high band): nudge Mon 2 Mar; r1 at +1 (Fri 6); r2 at +5 (Tue 10); the call
# at +8 (Fri 13); the notice at +12 (Tue 17); the registered letter at +25 (Mon 30); the hand-off at
# +45 is Sunday 19 Apr, so Monday 20, with the customer's notice by email and letter.
EXPECTED = {
    "GOOD": [
        ("nudge", "email", "2026-03-02"),
        ("r1", "email", "2026-03-09"),
        ("r2", "email", "2026-03-19"),
        ("r2", "sms", "2026-03-19"),
        ("notice", "email", "2026-04-07"),
        ("notice", "letter", "2026-04-07"),
        ("call", "task", "2026-04-20"),
        ("registered", "letter", "2026-05-04"),
        ("agency", "agency", "2026-06-03"),
        ("agency", "letter", "2026-06-03"),
    ],
    "LATE": [
        ("nudge", "email", "2026-03-02"),
        ("r1", "email", "2026-03-06"),
        ("r1", "sms", "2026-03-06"),
        ("r2", "email", "2026-03-10"),
        ("r2", "sms", "2026-03-10"),
        ("call", "task", "2026-03-13"),
        ("notice", "email", "2026-03-17"),
        ("notice", "letter", "2026-03-17"),
        ("notice", "sms", "2026-03-17"),
        ("registered", "letter", "2026-03-30"),
        ("agency", "agency", "2026-04-20"),
        ("agency", "email", "2026-04-20"),
        ("agency", "letter", "2026-04-20"),
    ],
}
