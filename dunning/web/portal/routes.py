"""The customer portal: one signed link per customer (dunning/links.py) shows what they owe and
lets them act. The link is the only authority: the customer id comes from its signature, never
from the URL or a form."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Form, Path, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from starlette.concurrency import run_in_threadpool

from dunning import bounds
from dunning.bounds import Day, Id
from dunning.deps import ClockDep, SessionDep, SettingsDep
from dunning.errors import DomainError, NotFound
from dunning.inputs import BoundedRoute, form_problem
from dunning.ledger.models import Customer
from dunning.links import portal_token, read_token
from dunning.payments import checkout, stripe_api
from dunning.web.auth import csrf
from dunning.web.errors import CsrfRefused, FormRefused, WebRefusal
from dunning.web.portal import actions, statement
from dunning.web.portal.strings import REASONS, Words, language, locale
from dunning.web.templating import page

log = logging.getLogger(__name__)
router = APIRouter(prefix="/portal", include_in_schema=False, route_class=BoundedRoute)
DONE = ("promise", "promise_noted", "plan", "plan_request", "dispute", "contact", "channel", "paid", "pay_cancelled")


class LinkRefused(WebRefusal):
    """Tampered, expired, or naming no customer: the same plain page, whichever it was."""

    title = "This link cannot be used"

    def __init__(self, message: str):
        super().__init__(message[:1].upper() + message[1:] + ".")


async def _read_form(request: Request) -> tuple[str | None, str | None]:
    """The submitted CSRF token and the form's first unacceptable value, if any. The form is read
    before the database is touched: a transaction (SQLite's write lock) is never held while a
    client sends its body, and the database work runs off the event loop."""
    if request.method != "POST":
        return None, None
    form = await request.form()  # parsed once: the route's Form() fields read the same copy
    field = form.get(csrf.FIELD)
    return (field if isinstance(field, str) else None), form_problem(form)


async def portal_customer(
    token: str, request: Request, session: SessionDep, settings: SettingsDep, clock: ClockDep
) -> Customer:
    submitted, problem = await _read_form(request)
    return await run_in_threadpool(_link_customer, token, request, session, settings, clock, submitted, problem)


def _link_customer(
    token: str, request: Request, session, settings, clock, submitted: str | None, problem: str | None
) -> Customer:
    try:
        claims = read_token(settings, "portal", token, clock=clock)
    except DomainError as e:
        raise LinkRefused(e.message) from None
    customer = session.get(Customer, claims.customer_id)
    if customer is None:
        raise LinkRefused("this link is not valid")
    if not claims.current(customer):
        raise LinkRefused("this link has been replaced; use the link in a more recent message")
    if request.method == "POST":
        if not csrf.valid(request, settings, f"portal:{customer.id}", submitted):
            raise CsrfRefused()
        if problem:
            raise FormRefused(problem)
    return customer


PortalCustomer = Annotated[Customer, Depends(portal_customer)]


def _shown(settings) -> dict:
    # only what the page shows: the template never sees the secrets
    return {
        "company_name": settings.company_name,
        "company_email": settings.company_email,
        "company_phone": settings.company_phone,
        "payment_url": settings.payment_url,
        "online_payment": settings.online_payment,
        "dispute_response_days": settings.dispute_response_days,
    }


def _page(
    request: Request,
    session,
    clock,
    settings,
    token: str,
    customer: Customer,
    *,
    done: str | None = None,
    error: str | None = None,
    failed: str | None = None,
    status: int = 200,
) -> HTMLResponse:
    lang = language(customer.language)
    words = Words(lang)
    form_token, cookie = csrf.issue(request, settings, f"portal:{customer.id}")
    response = page(
        "portal/page.html",
        status_code=status,
        s=statement.load(session, clock, customer),
        t=words,
        lang=lang,
        loc=locale(lang, customer.country),
        token=token,
        csrf_token=form_token,
        done=done,
        error=error,
        failed=failed,
        reasons=REASONS,
        settings=_shown(settings),
    )
    csrf.set_cookie(response, settings, cookie)
    return response


@router.get("/{token}")
def show(
    token: str,
    customer: PortalCustomer,
    request: Request,
    session: SessionDep,
    clock: ClockDep,
    settings: SettingsDep,
    done: str | None = None,
) -> HTMLResponse:
    return _page(request, session, clock, settings, token, customer, done=done if done in DONE else None)


def _act(
    request: Request,
    session,
    clock,
    settings,
    token: str,
    customer: Customer,
    form: str,
    action: Callable[[Words], str],
) -> HTMLResponse | RedirectResponse:
    version = customer.link_version
    savepoint = session.begin_nested()
    try:
        done = action(Words(language(customer.language)))
        savepoint.commit()
    except DomainError as e:
        savepoint.rollback()
        return _page(request, session, clock, settings, token, customer, error=e.message, failed=form, status=e.status)
    if customer.link_version != version:  # new contact details: the customer goes on with a new link
        token = portal_token(settings, customer.id, clock, customer.link_version)
    return RedirectResponse(f"/portal/{token}?done={done}#{form}", status_code=303)


@router.post("/{token}/promise")
def promise(
    token: str,
    customer: PortalCustomer,
    request: Request,
    session: SessionDep,
    clock: ClockDep,
    settings: SettingsDep,
    currency: Annotated[bounds.line(3), Form()],
    promised_on: Annotated[Day, Form()],
):
    return _act(
        request,
        session,
        clock,
        settings,
        token,
        customer,
        f"promise-{currency}",
        lambda w: actions.promise(session, clock, customer, currency, promised_on, w),
    )


@router.post("/{token}/plan")
def plan(
    token: str,
    customer: PortalCustomer,
    request: Request,
    session: SessionDep,
    clock: ClockDep,
    settings: SettingsDep,
    currency: Annotated[bounds.line(3), Form()],
    count: Annotated[Id, Form()],
    first_due: Annotated[Day, Form()],
):
    return _act(
        request,
        session,
        clock,
        settings,
        token,
        customer,
        f"plan-{currency}",
        lambda w: actions.plan(session, clock, customer, currency, count, first_due, w),
    )


@router.post("/{token}/dispute")
def dispute(
    token: str,
    customer: PortalCustomer,
    request: Request,
    session: SessionDep,
    clock: ClockDep,
    settings: SettingsDep,
    invoice_id: Annotated[Id, Form()],
    reason: Annotated[bounds.line(40), Form()],
    text: Annotated[bounds.text(5000), Form()] = "",
):
    return _act(
        request,
        session,
        clock,
        settings,
        token,
        customer,
        "dispute",
        lambda w: actions.dispute(session, clock, settings, customer, invoice_id, reason, text, w),
    )


@router.post("/{token}/contact")
def contact(
    token: str,
    customer: PortalCustomer,
    request: Request,
    session: SessionDep,
    clock: ClockDep,
    settings: SettingsDep,
    email: Annotated[bounds.line(320), Form()] = "",
    phone: Annotated[bounds.line(40), Form()] = "",
):
    return _act(
        request,
        session,
        clock,
        settings,
        token,
        customer,
        "contact",
        lambda w: actions.update_contact(session, clock, customer, email, phone, w),
    )


@router.post("/{token}/channels")
def channels(
    token: str,
    customer: PortalCustomer,
    request: Request,
    session: SessionDep,
    clock: ClockDep,
    settings: SettingsDep,
    channel: Annotated[bounds.line(10), Form()],
    wanted: Annotated[bool, Form()],
):
    return _act(
        request,
        session,
        clock,
        settings,
        token,
        customer,
        "channels",
        lambda w: actions.set_channel(session, clock, customer, channel, wanted),
    )


@router.post("/{token}/pay")
async def pay(
    token: str,
    request: Request,
    settings: SettingsDep,
    clock: ClockDep,
    currency: Annotated[bounds.line(3), Form()],
    invoice_id: Annotated[list[Id], Form(max_length=checkout.MAX_INVOICES + 1)] = [],  # noqa: B006 (FastAPI copies it)
):
    """Pay now: to Stripe Checkout for the invoices chosen. No transaction is open while Stripe
    answers: the invoices are read in one, the session recorded in another."""
    submitted, problem = await _read_form(request)
    return await run_in_threadpool(_pay, request, settings, clock, token, currency, invoice_id, submitted, problem)


def _pay(
    request: Request,
    settings,
    clock,
    token: str,
    currency: str,
    invoice_ids: list[int],
    submitted: str | None,
    problem: str | None,
) -> HTMLResponse | RedirectResponse:
    db = request.app.state.db
    form = f"pay-{currency}"
    with db.session() as session:
        customer = _link_customer(token, request, session, settings, clock, submitted, problem)
        if not settings.online_payment:  # after the link and the form's token, as every portal form
            raise NotFound("online payment is not set up")
        words = Words(language(customer.language))
        try:
            plan = checkout.prepare(session, clock, settings, customer, currency, invoice_ids, words)
        except DomainError as e:
            return _page(
                request, session, clock, settings, token, customer, error=e.message, failed=form, status=e.status
            )
    try:
        opened = stripe_api.create_checkout_session(settings, plan.params, plan.key)
        refusal = None if opened.status == "open" and opened.url else words("pay_processing")
    except stripe_api.PaymentUnavailable as e:
        log.warning("checkout for customer %s not opened: %s", customer.external_id, e.message)
        refusal = words("pay_unavailable")
    with db.session() as session:
        if refusal:
            return _page(
                request,
                session,
                clock,
                settings,
                token,
                session.get(Customer, customer.id),
                error=refusal,
                failed=form,
                status=503,
            )
        checkout.opened(session, clock, plan, opened, actions.actor(customer))
    return RedirectResponse(opened.url, status_code=303)


@router.get("/{key}/{outcome}")
def returned(
    key: Annotated[bounds.line(64), Path()],
    outcome: Literal["paid", "cancelled"],
    session: SessionDep,
    settings: SettingsDep,
    clock: ClockDep,
) -> RedirectResponse:
    """Where Stripe sends the customer back: on to the portal, with a fresh link."""
    try:
        found = checkout.returned(session, clock, key)
    except NotFound as e:
        raise LinkRefused(e.message) from None
    customer = session.get(Customer, found.customer_id)
    fresh = portal_token(settings, customer.id, clock, customer.link_version)
    done = "paid" if outcome == "paid" else "pay_cancelled"
    return RedirectResponse(f"/portal/{fresh}?done={done}#account-{found.currency}", status_code=303)
