"""The cycle: for every account with money owed, open (or reopen) its case, ask the engine what is
due, and act on it: plan messages, record passed steps, close cases that are paid.

Planning is idempotent: a message's dedupe key is (case, episode, path, step, channel), inserted
with ON CONFLICT DO NOTHING, so a second cycle (or two workers at once) plans nothing new. Only
decisions that change something are audit events (plan, pass, close, open, band change): a
"not due yet" every five minutes for every case would drown the log. The same goes for the
events neighbours see (case.opened, case.step_planned, approval.requested, case.closed), written
in bulk with the rest, and the call tasks that replace a message nobody can receive (with their
task.created events: tasks.service.open_calls).
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from types import SimpleNamespace
from typing import Any

from sqlalchemy import Table, select, text
from sqlmodel import Session

from dunning import failures
from dunning.audit import AuditEvent
from dunning.cases import sweep, views
from dunning.cases.models import ACTIVE, CASE, CLOSED, PAUSED
from dunning.cases.views import Account, CustomerRow
from dunning.clock import Clock
from dunning.config import Settings
from dunning.contacts.roles import DEFAULT_TO
from dunning.driver import insert_rows, update_rows
from dunning.events.publish import Event, new, publish_all
from dunning.ledger.bulk import lookup
from dunning.memory import collector_paused
from dunning.money import as_string
from dunning.outbox.models import AWAITING_APPROVAL, QUEUED, Message
from dunning.outbox.service import cancel_for_case
from dunning.policies import calendar
from dunning.policies import service as policy_service
from dunning.policies.document import Policy
from dunning.policies.engine import CaseView, ContactView, Decision, anchor_for, decide, record_step
from dunning.scoring.risk import Risk, risks
from dunning.tasks.service import open_calls
from dunning.words import plural

MAX_PASSES = 10
CaseRow = SimpleNamespace  # a dunning_case row read with Core: the cycle writes its changes back in bulk
# the tables written in bulk with Core; SQLModel sets __table__ without declaring it
MESSAGE: Table = Message.__table__  # type: ignore[attr-defined]
AUDIT_EVENT: Table = AuditEvent.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True)
class Outcome:
    """One decision, as the dry run and the preview show it."""

    case_id: int | None
    customer_external_id: str
    customer_name: str
    currency: str
    action: str
    rule: str
    reason: str
    step_key: str | None = None
    step_name: str | None = None
    kind: str | None = None
    channels: tuple[str, ...] = ()
    send_at: datetime | None = None
    requires_approval: bool = False
    amount_minor: int = 0
    invoices: tuple[str, ...] = ()


@dataclass
class CycleReport:
    counts: Counter[str] = field(default_factory=Counter)
    outcomes: list[Outcome] = field(default_factory=list)

    @property
    def planned(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.action == "plan"]

    def summary(self) -> str:
        """One line for the log and the command line: what was looked at, decided and planned."""
        c = self.counts
        decided = {action: c[action] for action in ("plan", "pass", "wait", "close", "none") if c[action]}
        words = {"pass": "passed", "wait": "waiting", "close": "closed", "none": "with nothing to do"}
        line = f"{plural(c['looked_at'], 'customer')} looked at, {plural(sum(decided.values()), 'decision')}"
        if c["unchanged"]:
            line += f" ({plural(c['unchanged'], 'case')} unchanged since their last decision)"
        if decided:
            line += ": " + ", ".join(
                plural(n, "step") + " planned" if action == "plan" else f"{n} {words[action]}"
                for action, n in decided.items()
            )
        channels = Counter(channel for o in self.planned for channel in o.channels)
        if channels:
            approval = sum(len(o.channels) for o in self.planned if o.requires_approval)
            line += (
                f"; {plural(sum(channels.values()), 'message')} planned: "
                + ", ".join(f"{n} {channel}" for channel, n in sorted(channels.items()))
                + (f" ({approval} awaiting approval)" if approval else "")
            )
        opened = [f"{plural(c[k], 'case')} {k}" for k in ("opened", "reopened") if c[k]]
        if opened:
            line += "; " + ", ".join(opened)
        if c["failed"]:
            line += f"; {c['failed']} failed (see the worklist's failure tasks)"
        return line


def digest(view: CaseView, policy: Policy) -> str:
    # repr of frozen dataclasses is deterministic across processes, unlike hash()
    return hashlib.blake2b(repr((view, policy.name, policy.version)).encode(), digest_size=16).hexdigest()


def dedupe_key(case: CaseRow, decision: Decision, channel: str) -> str:
    step = decision.step
    assert step is not None, "only a planned or passed step is keyed, and the engine names it"
    return f"{case.id}:{case.episode}:{step.path}:{step.index}:{channel}"


class Cycle:
    def __init__(self, session: Session, clock: Clock, settings: Settings):
        self.session, self.clock, self.settings = session, clock, settings
        self.now = clock.now()
        self.report = CycleReport()
        self._policies: dict[str | None, Policy] = {}
        self._case_updates: dict[int, dict[str, Any]] = {}  # case id -> columns to set
        self._messages: list[dict[str, Any]] = []
        self._audit: list[dict[str, Any]] = []
        self._events: list[Event] = []
        self._approvals: list[tuple[int, list[str]]] = []  # (index in _events, dedupe keys of the messages)
        self._calls: list[dict[str, Any]] = []  # call tasks to open (tasks.service.open_calls)
        self._customers: dict[int, str] = {}  # customer id -> external id, for the calls' events
        self.failures: list[tuple[int, CaseRow | None, Exception]] = []  # (customer, case or None, error)

    def policy(self, name: str | None) -> Policy:
        if name not in self._policies:
            self._policies[name] = policy_service.policy_for(self.session, name)
        return self._policies[name]

    # -- the run --------------------------------------------------------------------------------

    def run(self, customer_ids: set[int] | None = None) -> CycleReport:
        self._single_cycle_lock()
        if customer_ids is None:
            policy_service.ensure_default(self.session, self.clock)
            customer_ids = sweep.due_customers(
                self.session, self.now, self.now.date() + timedelta(days=self._max_lead())
            )
            self.report.counts["looked_at"] = len(customer_ids)
            if not customer_ids:
                return self.report
        for case, customer, seen, policy, risk in self.views(customer_ids):
            # Only a case with a fingerprint can be unchanged: a new one (most of a first cycle) is
            # not digested unless its decision leaves it as it was (below).
            fingerprint = digest(seen, policy) if case.fingerprint is not None else None
            if fingerprint is not None and self._unchanged(case, fingerprint):
                self.report.counts["unchanged"] += 1
                continue
            # One case that raises (a date past what a calendar holds...) must not stop the
            # others: what it added to the bulk writes is taken back and the failure recorded.
            mark = self._mark(case)
            try:
                view = seen
                decision = decide(view, policy, self.now)
                for _ in range(MAX_PASSES):  # a passed step (a nudge too late to send) makes the next one decidable now
                    self._act(case, customer, view, decision, risk)
                    if decision.action != "pass":
                        break
                    view = record_step(view, decision)
                    decision = decide(view, policy, self.now)
                if decision.action in ("plan", "pass", "close"):
                    fingerprint = None  # the case moved: its next view differs from this one whatever happens
                elif fingerprint is None:
                    fingerprint = digest(seen, policy)
                self._update(case, fingerprint=fingerprint, decided_at=self.now)
            except Exception as error:
                self._undo(case, mark)
                self._fail(case.customer_id, case, error)
        self._flush()
        recorded: set[tuple[int, int | None]] = set()
        for customer_id, failed, cause in self.failures:
            subject = (customer_id, failed.id if failed is not None else None)
            if subject not in recorded:  # a customer owing in two currencies fails once
                recorded.add(subject)
                failures.record(self.session, self.clock, "cycle", cause, customer_id=customer_id, case_id=subject[1])
        return self.report

    def views(
        self, customer_ids: set[int] | None = None
    ) -> Iterator[tuple[CaseRow, CustomerRow, CaseView, Policy, Risk]]:
        """Every case to decide on, with what the engine needs; opens and reopens cases on the way.
        A case or customer that cannot be read is left out and listed in `self.failures`."""
        policy_service.ensure_default(self.session, self.clock)
        accounts = views.open_invoices(self.session, self.now.date() + timedelta(days=self._max_lead()), customer_ids)
        cases = views.cases(self.session, set(accounts), customer_ids)
        customer_ids = {k[0] for k in accounts} | {k[0] for k in cases}
        customers, unreadable = views.customers(self.session, customer_ids)
        customer_risks = risks(self.session, self.settings.late_days_threshold, customer_ids)
        cases = self._open_cases(accounts, cases, customers, customer_risks)
        contacts = views.contacts(self.session, self.now, customer_ids)
        pending = views.cases_with_pending_messages(self.session, customer_ids)
        for customer_id, error in unreadable.items():
            owned: list[CaseRow | None] = [case for key, case in cases.items() if key[0] == customer_id] or [None]
            for case in owned:
                self._fail(customer_id, case, error)
        for key, case in cases.items():
            customer = customers.get(case.customer_id)
            if customer is None:
                continue  # unreadable: listed above
            try:
                view = self._view(case, customer, accounts.get(key), contacts, pending, customer_risks)
                policy = self.policy(customer.policy_name)
            except Exception as error:
                self._fail(case.customer_id, case, error)
                continue
            yield case, customer, view, policy, customer_risks[case.customer_id]

    def _max_lead(self) -> int:
        """How far ahead invoices matter: the earliest any stored policy starts before a due date.
        A stored document that no longer parses fails its own customers, not the whole cycle."""
        leads: list[int] = []
        for row in policy_service.list_latest(self.session):
            try:
                leads.extend(path.lead_days for path in policy_service.parsed(row).paths.values())
            except Exception:
                continue
        return max(leads, default=0) + 1  # a day more: customers' local dates run ahead of UTC

    def _fail(self, customer_id: int, case: CaseRow | None, error: Exception) -> None:
        self.failures.append((customer_id, case, error))
        self.report.counts["failed"] += 1

    def _mark(self, case: CaseRow) -> tuple[int, int, int, int, int, int, dict[str, Any] | None]:
        """Where the bulk writes stand before a case is decided, so that a failure can undo its part."""
        pending = self._case_updates.get(case.id)
        return (
            len(self._messages),
            len(self._audit),
            len(self._events),
            len(self._approvals),
            len(self._calls),
            len(self.report.outcomes),
            dict(pending) if pending is not None else None,
        )

    def _undo(self, case: CaseRow, mark: tuple[int, int, int, int, int, int, dict[str, Any] | None]) -> None:
        messages, audit_events, events, approvals, calls, outcomes, pending = mark
        del self._messages[messages:], self._audit[audit_events:], self._events[events:], self._approvals[approvals:]
        del self._calls[calls:]
        for outcome in self.report.outcomes[outcomes:]:
            self.report.counts[outcome.action] -= 1
        del self.report.outcomes[outcomes:]
        if pending is None:
            self._case_updates.pop(case.id, None)
        else:
            self._case_updates[case.id] = pending

    def _unchanged(self, case: CaseRow, fingerprint: str) -> bool:
        """The engine is a function of the case view, the policy and the time. Same view and policy
        as at the last decision, earlier today, and nothing due to wake it: same answer. Every case is
        decided afresh at least once a day, so the date alone can never leave one behind."""
        return (
            case.fingerprint == fingerprint
            and case.decided_at is not None
            and case.decided_at.date() == self.now.date()
            and (case.next_check_at is None or case.next_check_at > self.now)
        )

    def _single_cycle_lock(self) -> None:
        # Two workers may fire the cycle at once; on PostgreSQL the second waits for the first
        # (SQLite's BEGIN IMMEDIATE already serialises writers). The dedupe keys would keep the
        # messages single anyway; the lock keeps the case rows from being written twice.
        if self.session.get_bind().dialect.name == "postgresql":
            self.session.execute(text("SELECT pg_advisory_xact_lock(728145)"))

    def _band(self, customer: CustomerRow, risk: Risk) -> str:
        return self.policy(customer.policy_name).band_for(risk.probability).name

    def _open_cases(
        self,
        accounts: dict[tuple[int, str], Account],
        cases: dict[tuple[int, str], CaseRow],
        customers: dict[int, CustomerRow],
        customer_risks: dict[int, Risk],
    ) -> dict[tuple[int, str], CaseRow]:
        """New cases for accounts with something to chase; closed ones reopen as a new episode."""
        rows = []
        for key, account in accounts.items():
            existing = cases.get(key)
            if existing is not None and existing.state != CLOSED:
                continue
            customer = customers.get(account.customer_id)
            if customer is None:
                continue  # unreadable: the cycle records it
            try:
                policy = self.policy(customer.policy_name)
                path = policy.path_for_band(self._band(customer, customer_risks[account.customer_id]))
                today = calendar.local_date(self.now, customer.view.tz)
                if anchor_for(account.invoices, today, lead_days=path[1].lead_days if path else 0) is None:
                    continue
            except Exception as error:
                self._fail(account.customer_id, existing, error)
                continue
            if existing is None:
                rows.append(
                    {
                        "customer_id": account.customer_id,
                        "currency": account.currency,
                        "state": ACTIVE,
                        "episode": 1,
                        "opened_at": self.now,
                        "policy_name": policy.name,
                        "step_index": -1,
                        "updated_at": self.now,
                    }
                )
            else:
                reset = dict(
                    state=ACTIVE,
                    episode=existing.episode + 1,
                    opened_at=self.now,
                    closed_at=None,
                    anchor_due_on=None,
                    path_name=None,
                    step_key=None,
                    step_name=None,
                    step_after_days=None,
                    step_index=-1,
                    step_at=None,
                    policy_version=None,
                    fingerprint=None,
                    decided_at=None,
                    paused_until=None,
                    pause_reason=None,
                )
                vars(existing).update(reset)
                self._update(existing, **reset)
                self._audit_event("case.reopened", existing, customer, episode=existing.episode)
                self._event("case.opened", existing, customer, episode=existing.episode)
                self.report.counts["reopened"] += 1
        if rows:
            insert_rows(self.session, CASE, rows, skip_existing=["customer_id", "currency"])
            new_keys = {(r["customer_id"], r["currency"]) for r in rows}
            for row in self.session.connection().execute(
                select(CASE).where(CASE.c.state == ACTIVE, CASE.c.step_index == -1, CASE.c.opened_at == self.now)
            ):
                key = (row.customer_id, row.currency)
                if key in new_keys and key not in cases:
                    cases[key] = SimpleNamespace(**row._mapping)
                    self._audit_event("case.opened", cases[key], customers[row.customer_id])
                    self._event("case.opened", cases[key], customers[row.customer_id], episode=row.episode)
                    self.report.counts["opened"] += 1
        return {k: c for k, c in cases.items() if c.state != CLOSED}

    def _view(
        self,
        case: CaseRow,
        customer: CustomerRow,
        account: Account | None,
        contacts: dict[int, list[ContactView]],
        pending: set[int],
        customer_risks: dict[int, Risk],
    ) -> CaseView:
        state = case.state
        if state == PAUSED and case.pause_reason == "hold" and case.paused_until and case.paused_until <= self.now:
            state = ACTIVE  # a manual hold with an end date ends by itself
            self._update(case, state=ACTIVE, paused_until=None, pause_reason=None)
            self._event("case.resumed", case, customer, why="the hold ended", by="cycle")
        return CaseView(
            case_id=case.id,
            currency=case.currency,
            state=state,
            invoices=tuple(account.invoices) if account else (),
            customer=customer.view,
            contacts=tuple(contacts.get(case.customer_id, ())),
            band=self._band(customer, customer_risks[case.customer_id]),
            path_name=case.path_name,
            policy_version=case.policy_version,
            current_step_index=case.step_index,
            current_step_key=case.step_key,
            current_step_after_days=case.step_after_days,
            current_step_at=case.step_at,
            anchor_due_on=case.anchor_due_on,
            paused_until=case.paused_until,
            pending_step=case.id in pending,
        )

    # -- acting ---------------------------------------------------------------------------------

    def _act(self, case: CaseRow, customer: CustomerRow, view: CaseView, d: Decision, risk: Risk) -> None:
        self.report.counts[d.action] += 1
        self.report.outcomes.append(
            Outcome(
                case.id,
                customer.external_id,
                customer.name,
                case.currency,
                d.action,
                d.rule,
                d.reason,
                d.step.key if d.step else None,
                d.step.name if d.step else None,
                d.kind,
                d.channels,
                d.send_not_before,
                d.requires_approval,
                d.amount_minor,
                tuple(i.number for i in d.invoices),
            )
        )
        changes: dict[str, Any] = {}
        if d.anchor_due_on is not None and self._current(case, "anchor_due_on") is None:
            changes["anchor_due_on"] = d.anchor_due_on  # fixed now, so later payments can't move it
        band = self._current(case, "band")
        if band != view.band:
            if band is not None:
                self._audit_event(
                    "case.band_changed",
                    case,
                    customer,
                    old_band=band,
                    new_band=view.band,
                    old_risk=case.risk,
                    new_risk=risk.probability,
                    source=risk.source,
                )
            changes.update(band=view.band, risk=risk.probability)
        if d.next_check_at != self._current(case, "next_check_at"):
            changes["next_check_at"] = d.next_check_at
        if d.action == "close":
            changes.update(state=CLOSED, closed_at=self.now, next_check_at=None)
            cancel_for_case(self.session, self.clock, case.id, "the case closed: nothing overdue is owed")
            self._audit_event("case.closed", case, customer, reason=d.reason)
            self._event("case.closed", case, customer, reason=d.reason)
        elif d.action in ("plan", "pass"):
            assert d.step is not None, "a plan or a pass names its step"
            changes.update(
                path_name=d.step.path,
                policy_version=d.policy_version,
                step_index=d.step.index,
                step_key=d.step.key,
                step_name=d.step.name,
                step_after_days=d.step.after_days,
                policy_name=self.policy(customer.policy_name).name,
            )
            if d.action == "plan":
                changes["step_at"] = d.send_not_before
                self._plan(case, customer, d)
            self._audit_event(
                "case.step_planned" if d.action == "plan" else "case.step_passed",
                case,
                customer,
                reason=d.reason,
                rule=d.rule,
                step=d.step.key,
                step_name=d.step.name,
                band=d.band,
                risk=risk.probability,
                risk_source=risk.source,
                policy_version=d.policy_version,
                channels=list(d.channels),
                passed_over=[s.name for s in d.passed_over],
            )
        if changes:
            self._update(case, **changes)

    def _update(self, case: CaseRow, **columns: Any) -> None:
        self._case_updates.setdefault(case.id, {"_id": case.id, "updated_at": self.now}).update(columns)

    def _current(self, case: CaseRow, name: str) -> Any:
        """A case column as this cycle will leave it (a pass then a plan read each other's changes)."""
        pending = self._case_updates.get(case.id)
        return pending[name] if pending and name in pending else getattr(case, name)

    def _plan(self, case: CaseRow, customer: CustomerRow, d: Decision) -> None:
        assert d.step is not None, "a plan names its step"
        channels = list(d.channels) + (["agency"] if d.escalates else [])
        step = dict(
            step=d.step.key,
            kind=d.kind,
            channels=channels,
            send_at=d.send_not_before,
            requires_approval=d.requires_approval,
        )
        self._event(
            "case.step_planned",
            case,
            customer,
            **step,
            amount=as_string(d.amount_minor, case.currency),
            invoices=[i.number for i in d.invoices],
        )
        if d.kind == "call_task":
            title = f"Call {customer.name} about {plural(len(d.invoices), 'overdue invoice')} ({d.step.name})"
            self._customers[case.customer_id] = customer.external_id
            self._calls.append(
                {
                    "key": dedupe_key(case, d, "task"),
                    "customer_id": case.customer_id,
                    "case_id": case.id,
                    "due_at": d.send_not_before,
                    "title": title[:300],
                    "detail": d.reason,
                }
            )
            return
        if d.requires_approval:  # its message ids are known once the messages are written (_flush)
            self._approvals.append((len(self._events), [dedupe_key(case, d, c) for c in channels]))
            self._event("approval.requested", case, customer, **step)
        status = AWAITING_APPROVAL if d.requires_approval else QUEUED
        # whom it goes to is read again when it leaves (compose.addressed): contacts change meanwhile
        roles = {} if (d.to_roles, d.cc_roles) == (DEFAULT_TO, ()) else {"to": list(d.to_roles), "cc": list(d.cc_roles)}
        for channel in channels:
            self._messages.append(
                {
                    "dedupe_key": dedupe_key(case, d, channel),
                    "case_id": case.id,
                    "customer_id": case.customer_id,
                    "currency": case.currency,
                    "channel": channel,
                    "kind": d.kind,
                    "template": d.template,
                    "path_name": d.step.path,
                    "step_index": d.step.index,
                    "step_key": d.step.key,
                    "step_name": d.step.name,
                    "policy_version": d.policy_version,
                    "status": status,
                    "send_after": d.send_not_before,
                    "requires_approval": d.requires_approval,
                    "show_fees": d.show_fees,
                    "invoice_ids": [i.id for i in d.invoices],
                    "amount_minor": d.amount_minor,
                    "context": roles,
                    "attempts": 0,
                    "created_at": self.now,
                    "updated_at": self.now,
                }
            )

    def _audit_event(self, action: str, case: CaseRow, customer: CustomerRow, **data: Any) -> None:
        self._audit.append(
            {
                "at": self.now,
                "actor": "cycle",
                "action": action,
                "subject_type": "case",
                "subject_id": str(case.id),
                "data": {"customer": customer.external_id, "currency": case.currency, **data},
            }
        )

    def _event(self, event_type: str, case: CaseRow, customer: CustomerRow, **data: Any) -> None:
        self._events.append(
            new(
                self.clock,
                event_type,
                customer_id=case.customer_id,
                case_id=case.id,
                customer=customer.external_id,
                currency=case.currency,
                **data,
            )
        )

    def _with_message_ids(self) -> None:
        """approval.requested names the messages to approve (POST /v1/approvals/{message_id})."""
        keys = [key for _, step_keys in self._approvals for key in step_keys]
        ids = lookup(self.session, MESSAGE.c.dedupe_key, keys, MESSAGE.c.id)
        for index, step_keys in self._approvals:
            event = self._events[index]
            found = [ids[key][1] for key in step_keys if key in ids]
            self._events[index] = replace(event, data={**event.data, "message_ids": found})

    def _flush(self) -> None:
        by_columns: dict[tuple[str, ...], list[dict[str, Any]]] = {}
        for row in self._case_updates.values():
            by_columns.setdefault(tuple(sorted(row)), []).append(row)
        for rows in by_columns.values():
            update_rows(self.session, CASE, rows)
        insert_rows(self.session, MESSAGE, self._messages, skip_existing=["dedupe_key"])
        insert_rows(self.session, AUDIT_EVENT, self._audit)
        if self._approvals:
            self._with_message_ids()
        publish_all(self.session, self._events)
        open_calls(self.session, self.clock, self._calls, self._customers)
        self.session.flush()
        self.session.expire_all()


def run_cycle(session: Session, clock: Clock, settings: Settings, customer_ids: set[int] | None = None) -> CycleReport:
    with collector_paused():  # a batch job: see dunning/memory.py
        return Cycle(session, clock, settings).run(customer_ids)
