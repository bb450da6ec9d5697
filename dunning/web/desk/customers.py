"""Customers: the list, and one customer's page with invoices, cases, timeline and actions."""

from __future__ import annotations

from itertools import groupby
from typing import Annotated, Literal

from fastapi import APIRouter, Form, Query
from fastapi.responses import HTMLResponse, RedirectResponse
from sqlalchemy import func, or_, select
from sqlmodel import Session, col

from dunning import bounds, links
from dunning.bounds import Day, Id
from dunning.cases import service as case_service
from dunning.cases.models import CLOSED, Case
from dunning.clock import Clock
from dunning.config import Settings
from dunning.contacts import opted_out_channels
from dunning.deps import ClockDep, ExternalId, RowId, SessionDep, SettingsDep
from dunning.errors import NotFound
from dunning.inputs import BoundedRoute, segment
from dunning.ledger.models import Customer, Invoice
from dunning.ledger.queries import OPEN, contacts_of, get_customer
from dunning.money import MAX_AMOUNT_LENGTH
from dunning.policies import service as policy_service
from dunning.records.arrangements import Dispute
from dunning.web.desk import customer_actions, timeline
from dunning.web.desk.deps import Agent, Manager, act, render
from dunning.web.desk.paging import PageNo, page_of
from dunning.words import plural

router = APIRouter(prefix="/desk/customers", include_in_schema=False, route_class=BoundedRoute)
PAGE = 100


@router.get("")
def customer_list(
    desk: Agent, session: SessionDep, clock: ClockDep, q: Annotated[bounds.line(200), Query()] = "", page: PageNo = 1
) -> HTMLResponse:
    today = clock.now().date()
    overdue = (
        select(col(Invoice.customer_id), col(Invoice.currency), func.sum(col(Invoice.balance_minor)).label("overdue"))
        .where(OPEN, col(Invoice.due_on) < today)
        .group_by(col(Invoice.customer_id), col(Invoice.currency))
        .subquery()
    )
    stmt = (
        select(Customer, Case, overdue.c.overdue)
        .outerjoin(Case, (col(Case.customer_id) == col(Customer.id)) & (col(Case.state) != CLOSED))
        .outerjoin(overdue, (overdue.c.customer_id == col(Customer.id)) & (overdue.c.currency == col(Case.currency)))
    )
    if q.strip():
        like = f"%{q.strip().lower()}%"
        stmt = stmt.where(
            or_(
                func.lower(col(Customer.name)).like(like),
                func.lower(col(Customer.external_id)).like(like),
                func.lower(col(Customer.email)).like(like),
            )
        )
    else:
        stmt = stmt.where(col(Case.id).is_not(None))  # without a search: the customers being chased
    # amounts are compared within a currency only: by currency, then most overdue first
    order = (
        col(Case.currency).is_(None),
        col(Case.currency),
        func.coalesce(overdue.c.overdue, 0).desc(),
        col(Customer.name),
        col(Customer.id),
    )
    rows, pager = page_of(session, stmt.order_by(*order), "/desk/customers", page, PAGE, q=q)
    groups = [(currency, list(group)) for currency, group in groupby(rows, key=lambda r: r[1] and r[1].currency)]
    return render(session, desk, "desk/customers.html", active="customers", rows=rows, groups=groups, q=q, pager=pager)


def _cases(session: Session, clock: Clock, settings: Settings, customer: Customer):
    try:
        return case_service.case_detail(session, clock, settings, customer.external_id)
    except NotFound:
        return []


@router.get("/{external_id:segment}")
def customer_page(
    external_id: ExternalId, desk: Agent, session: SessionDep, clock: ClockDep, settings: SettingsDep
) -> HTMLResponse:
    customer = get_customer(session, external_id)
    invoices = (
        session.execute(
            select(Invoice)
            .where(col(Invoice.customer_id) == customer.id)
            .order_by(col(Invoice.balance_minor) == 0, col(Invoice.due_on), col(Invoice.id))
            .limit(200)
        )
        .scalars()
        .all()
    )
    open_disputes = {
        d.invoice_id: d
        for d in session.execute(
            select(Dispute).where(col(Dispute.customer_id) == customer.id, col(Dispute.status) == "open")
        ).scalars()
    }
    currencies = sorted({i.currency for i in invoices if i.balance_minor > 0 and not i.voided})
    return render(
        session,
        desk,
        "desk/customer.html",
        active="customers",
        customer=customer,
        cases=_cases(session, clock, settings, customer),
        invoices=invoices,
        disputes=open_disputes,
        currencies=currencies,
        today=clock.now().date(),
        events=timeline.build(session, customer),
        opted_out=sorted(opted_out_channels(session, customer.id)),
        contacts=contacts_of(session, customer.id),
        policies=[p.name for p in policy_service.list_latest(session)],
    )


def _back(external_id: str) -> str:
    return f"/desk/customers/{segment(external_id)}"


@router.post("/{external_id:segment}/hold")
def hold(
    external_id: ExternalId,
    desk: Manager,
    session: SessionDep,
    clock: ClockDep,
    case_id: Annotated[Id, Form()],
    until: Annotated[Day | None, Form()] = None,
) -> RedirectResponse:
    customer = get_customer(session, external_id)
    return act(
        session,
        desk,
        _back(external_id),
        lambda: customer_actions.hold(session, clock, customer, case_id, until, desk.actor),
        "Case on hold" + (f" through {until:%-d %b %Y}" if until else " until someone resumes it"),
    )


@router.post("/{external_id:segment}/resume")
def resume(
    external_id: ExternalId, desk: Manager, session: SessionDep, clock: ClockDep, case_id: Annotated[Id, Form()]
) -> RedirectResponse:
    customer = get_customer(session, external_id)
    return act(
        session,
        desk,
        _back(external_id),
        lambda: customer_actions.resume(session, clock, customer, case_id, desk.actor),
        "Case resumed",
    )


@router.post("/{external_id:segment}/revoke-links")
def revoke_links(external_id: ExternalId, desk: Manager, session: SessionDep, clock: ClockDep) -> RedirectResponse:
    customer = get_customer(session, external_id)
    return act(
        session,
        desk,
        _back(external_id),
        lambda: links.revoke(session, clock, customer, desk.actor),
        "Links revoked: the portal and unsubscribe links sent so far no longer work",
    )


@router.post("/{external_id:segment}/policy")
def change_policy(
    external_id: ExternalId,
    desk: Manager,
    session: SessionDep,
    clock: ClockDep,
    policy_name: Annotated[bounds.line(100), Form()] = "",
) -> RedirectResponse:
    customer = get_customer(session, external_id)
    return act(
        session,
        desk,
        _back(external_id),
        lambda: customer_actions.set_policy(session, clock, customer, policy_name, desk.actor),
        f"Policy set to {policy_name or 'the default'}; it applies from the next step",
    )


@router.post("/{external_id:segment}/promise")
def promise(
    external_id: ExternalId,
    desk: Agent,
    session: SessionDep,
    clock: ClockDep,
    currency: Annotated[bounds.line(3), Form()],
    promised_on: Annotated[Day, Form()],
    amount: Annotated[bounds.line(MAX_AMOUNT_LENGTH), Form()] = "",
) -> RedirectResponse:
    customer = get_customer(session, external_id)
    return act(
        session,
        desk,
        _back(external_id),
        lambda: customer_actions.promise(
            session, clock, customer, currency, promised_on, amount.strip() or None, desk.actor
        ),
        lambda r: (
            "Promise recorded"
            + (": the case is paused until then" if r.paused else "; the case was not paused (see the worklist)")
        ),
    )


@router.post("/{external_id:segment}/plan")
def plan(
    external_id: ExternalId,
    desk: Agent,
    session: SessionDep,
    clock: ClockDep,
    currency: Annotated[bounds.line(3), Form()],
    count: Annotated[Id, Form()],
    first_due: Annotated[Day, Form()],
    outside_policy: Annotated[bool, Form()] = False,
) -> RedirectResponse:
    customer = get_customer(session, external_id)
    # setting the policy's bounds aside is a manager's decision
    outside = outside_policy and desk.can("manager")
    return act(
        session,
        desk,
        _back(external_id),
        lambda: customer_actions.plan(
            session, clock, customer, currency, count, first_due, outside_policy=outside, actor=desk.actor
        ),
        lambda c: (
            f"Plan of {plural(len(c.installments), 'payment')} set up" + (": the case is paused" if c.paused else "")
        ),
    )


@router.post("/{external_id:segment}/disputes/{dispute_id}/resolve")
def resolve_dispute(
    external_id: ExternalId,
    dispute_id: RowId,
    desk: Agent,
    session: SessionDep,
    clock: ClockDep,
    outcome: Annotated[Literal["upheld", "rejected", "withdrawn"], Form()],
    note: Annotated[bounds.text(5000), Form()] = "",
) -> RedirectResponse:
    customer = get_customer(session, external_id)
    return act(
        session,
        desk,
        _back(external_id),
        lambda: customer_actions.resolve_dispute(
            session, clock, customer, dispute_id, outcome, note or None, desk.actor
        ),
        f"Dispute {outcome}",
    )
