"""One bad case never stops a job for the others.

The cycle, dispatch, the arrangements job and the rescore each work on many cases at once. When
one case raises (a row that got into the database before the door was closed, a policy nobody
can parse...), the job records the failure on that case and goes on with the rest:

- one open task per job and case (or customer, when there is no case): a rerun of the job adds
  nothing, and a task a person closed opens again if the case still fails;
- an audit event and one log line with the traceback when the failure is new; while the task is
  open, a later run logs one short line instead of the same traceback every five minutes.
"""

from __future__ import annotations

import logging

from sqlalchemy import select
from sqlmodel import Session, col

from dunning import audit
from dunning.clock import Clock
from dunning.ledger.models import Customer
from dunning.tasks.models import Task
from dunning.tasks.service import open_task, reopen

log = logging.getLogger("dunning.jobs")
KIND = "failure"


def describe(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}"[:1000]


def record(
    session: Session,
    clock: Clock,
    job: str,
    error: BaseException,
    *,
    customer_id: int | None,
    case_id: int | None = None,
    message_id: int | None = None,
) -> Task:
    """`job` ("cycle", "dispatch", "arrangements", "rescore") failed on this case or customer."""
    subject = f"case {case_id}" if case_id is not None else f"customer {customer_id}"
    key = f"failing:{job}:{subject.replace(' ', ':')}"
    text = describe(error)
    task = session.execute(select(Task).where(col(Task.key) == key)).scalar_one_or_none()
    if task is not None and task.status == "open":
        log.warning("%s: %s still fails (task %s): %s", job, subject, task.id, text)
        return task
    detail = (
        f"The {job} job could not handle {subject}: {text}. The job went on with the others; this "
        "one is left as it is until its data is corrected. The traceback is in the service log."
    )
    if task is None:
        task = open_task(
            session,
            clock,
            kind=KIND,
            key=key,
            customer_id=customer_id,
            case_id=case_id,
            message_id=message_id,
            title=f"The {job} job fails on {subject}",
            detail=detail,
            job=job,
            error=text,
        )
    else:  # closed by a person, and failing again
        reopen(session, clock, task, detail)
    if case_id is not None:
        audit.record(
            session,
            clock,
            actor=job,
            action="job.failed",
            subject_type="case",
            subject_id=case_id,
            job=job,
            error=text,
            task_id=task.id,
        )
    else:
        external_id = session.execute(select(col(Customer.external_id)).where(col(Customer.id) == customer_id)).scalar()
        audit.record(
            session,
            clock,
            actor=job,
            action="job.failed",
            subject_type="customer",
            subject_id=external_id or customer_id,
            job=job,
            error=text,
            task_id=task.id,
        )
    log.error("%s: %s failed; the job went on without it (task %s)", job, subject, task.id, exc_info=error)
    return task
