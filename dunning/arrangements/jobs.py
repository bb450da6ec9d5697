"""The hourly arrangements job: judge promises, move plans, end pauses that are over.

Each promise and plan is judged on its own: one that raises is recorded on its case
(dunning/failures.py) and the others go on. Safe to run twice, late, or in two workers: every
transition re-checks the state it leaves, notices and tasks are keyed, and on PostgreSQL the run
holds an advisory lock so two workers take turns. Cases it resumes are planned at once (the cycle
runs for those customers in the same transaction) instead of waiting for the next cycle.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from functools import partial

from sqlalchemy import select, text
from sqlmodel import Session, col

from dunning import failures
from dunning.arrangements import away, payment_checks, plan_progress, promises
from dunning.cases.cycle import run_cycle
from dunning.cases.models import Case
from dunning.clock import Clock
from dunning.config import Settings
from dunning.db import Database
from dunning.records.arrangements import InstallmentPlan, Promise
from dunning.words import plural

LOCK_ID = 728146  # the cycle holds 728145


def run(session: Session, clock: Clock, settings: Settings) -> Counter:
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": LOCK_ID})
    counts: Counter = Counter()
    resumed: set[int] = set()

    for promise in list(
        session.execute(select(Promise).where(col(Promise.status) == "open").order_by(col(Promise.id))).scalars()
    ):
        outcome = _alone(session, clock, counts, promise, partial(promises.judge, session, clock, promise))
        if outcome:
            counts[f"promise_{outcome}"] += 1
            if outcome == "broken" and promise.case_id:
                resumed.add(promise.case_id)

    for plan in plan_progress.active_plans(session):
        outcome = _alone(session, clock, counts, plan, partial(plan_progress.advance, session, clock, plan))
        if outcome:
            counts[f"plan_{outcome}"] += 1
            if plan.case_id:
                resumed.add(plan.case_id)

    for case in (
        promises.end_pauses(session, clock)
        + payment_checks.end_pauses(session, clock)
        + away.end_pauses(session, clock)
    ):
        counts["pause_ended"] += 1
        resumed.add(case.id)
    session.flush()

    if resumed:
        customers = set(session.execute(select(col(Case.customer_id)).where(col(Case.id).in_(resumed))).scalars())
        report = run_cycle(session, clock, settings, customers)
        counts["planned"] += report.counts.get("plan", 0)
    return counts


def _alone(
    session: Session,
    clock: Clock,
    counts: Counter,
    arrangement: Promise | InstallmentPlan,
    judge: Callable[[], str | None],
) -> str | None:
    """One promise or plan, in a savepoint: if it raises, what it wrote is undone, the failure is
    recorded on its case, and the job goes on with the others."""
    customer_id, case_id = arrangement.customer_id, arrangement.case_id
    try:
        with session.begin_nested():
            return judge()
    except Exception as error:
        failures.record(session, clock, "arrangements", error, customer_id=customer_id, case_id=case_id)
        counts["failed"] += 1
        return None


def summary(counts: Counter) -> str:
    """promise_kept: 2, pause_ended: 1 -> "2 promises kept, 1 pause ended"."""
    words = {"failed": "failed (see the worklist's failure tasks)"}
    parts = []
    for key, n in sorted(counts.items()):
        if not n:
            continue
        what, _, outcome = key.partition("_")
        if key == "planned":
            parts.append(f"{plural(n, 'step')} planned for resumed cases")
        else:
            parts.append(f"{n} {words[key]}" if key in words else f"{plural(n, what)} {outcome}")
    return ", ".join(parts) or "nothing to do"


def run_once(db: Database, clock: Clock, settings: Settings) -> Counter:
    with db.session() as session:
        return run(session, clock, settings)
