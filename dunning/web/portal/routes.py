"""The customer portal: one signed link per customer (dunning/links.py) shows what they owe and
lets them act. The link is the only authority: the customer id comes from its signature, never
from the URL or a form."""
from __future__ import annotations

from typing import Annotated, Callable

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from starlette.concurrency import run_in_threadpool

from dunning import bounds
from dunning.bounds import Day, Id
from dunning.deps import ClockDep, SessionDep, SettingsDep
from dunning.errors import DomainError
from dunning.inputs import BoundedRoute, form_problem
from dunning.ledger.models import Customer
from dunning.links import portal_token, read_token
from dunning.web.auth import csrf
from dunning.web.errors import CsrfRefused, FormRefused, WebRefusal
from dunning.web.portal import actions, statement
from dunning.web.portal.words import REASONS, Words, language, locale
from dunning.web.templating import page

router = APIRouter(prefix="/portal", include_in_schema=False, route_class=BoundedRoute)
DONE = ("promise", "promise_noted", "plan", "plan_request", "dispute", "contact", "channel")


class LinkRefused(WebRefusal):
    """Tampered, expired, or naming no customer: the same plain page, whichever it was."""

    title = "This link cannot be used"

    def __init__(self, message: str):
        super().__init__(message[:1].upper() + message[1:] + ".")


async def portal_customer(token: str, request: Request, session: SessionDep, settings: SettingsDep,
                          clock: ClockDep) -> Customer:
    # The form is read before the database is touched: a transaction (SQLite's write lock) is never
    # held while a client sends its body, and the database work runs off the event loop.
    submitted = problem = None
    if request.method == "POST":
        form = await request.form()  # parsed once: the route's Form() fields read the same copy
        field = form.get(csrf.FIELD)
        submitted = field if isinstance(field, str) else None
        problem = form_problem(form)
    return await run_in_threadpool(_link_customer, token, request, session, settings, clock, submitted, problem)


def _link_customer(token: str, request: Request, session, settings, clock, submitted: str | None,
                   problem: str | None) -> Customer:
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
    return {"company_name": settings.company_name, "company_email": settings.company_email,
            "company_phone": settings.company_phone, "payment_url": settings.payment_url,
            "dispute_response_days": settings.dispute_response_days}


def _page(request: Request, session, clock, settings, token: str, customer: Customer, *, done: str | None = None,
          error: str | None = None, failed: str | None = None, status: int = 200) -> HTMLResponse:
    lang = language(customer.language)
    words = Words(lang)
    form_token, cookie = csrf.issue(request, settings, f"portal:{customer.id}")
    response = page("portal/page.html", status_code=status, s=statement.load(session, clock, customer),
                    t=words, lang=lang, loc=locale(lang, customer.country), token=token, csrf_token=form_token,
                    done=done, error=error, failed=failed, reasons=REASONS, settings=_shown(settings))
    csrf.set_cookie(response, settings, cookie)
    return response


@router.get("/{token}")
def show(token: str, customer: PortalCustomer, request: Request, session: SessionDep, clock: ClockDep,
         settings: SettingsDep, done: str | None = None) -> HTMLResponse:
    return _page(request, session, clock, settings, token, customer, done=done if done in DONE else None)


def _act(request: Request, session, clock, settings, token: str, customer: Customer, form: str,
         action: Callable[[Words], str]) -> HTMLResponse | RedirectResponse:
    version = customer.link_version
    savepoint = session.begin_nested()
    try:
        done = action(Words(language(customer.language)))
        savepoint.commit()
    except DomainError as e:
        savepoint.rollback()
        return _page(request, session, clock, settings, token, customer, error=e.message, failed=form,
                     status=e.status)
    if customer.link_version != version:  # new contact details: the customer goes on with a new link
        token = portal_token(settings, customer.id, clock, customer.link_version)
    return RedirectResponse(f"/portal/{token}?done={done}#{form}", status_code=303)


@router.post("/{token}/promise")
def promise(token: str, customer: PortalCustomer, request: Request, session: SessionDep, clock: ClockDep,
            settings: SettingsDep, currency: Annotated[bounds.line(3), Form()],
            promised_on: Annotated[Day, Form()]):
    return _act(request, session, clock, settings, token, customer, f"promise-{currency}",
                lambda w: actions.promise(session, clock, customer, currency, promised_on, w))


@router.post("/{token}/plan")
def plan(token: str, customer: PortalCustomer, request: Request, session: SessionDep, clock: ClockDep,
         settings: SettingsDep, currency: Annotated[bounds.line(3), Form()], count: Annotated[Id, Form()],
         first_due: Annotated[Day, Form()]):
    return _act(request, session, clock, settings, token, customer, f"plan-{currency}",
                lambda w: actions.plan(session, clock, customer, currency, count, first_due, w))


@router.post("/{token}/dispute")
def dispute(token: str, customer: PortalCustomer, request: Request, session: SessionDep, clock: ClockDep,
            settings: SettingsDep, invoice_id: Annotated[Id, Form()], reason: Annotated[bounds.line(40), Form()],
            text: Annotated[bounds.text(5000), Form()] = ""):
    return _act(request, session, clock, settings, token, customer, "dispute",
                lambda w: actions.dispute(session, clock, settings, customer, invoice_id, reason, text, w))


@router.post("/{token}/contact")
def contact(token: str, customer: PortalCustomer, request: Request, session: SessionDep, clock: ClockDep,
            settings: SettingsDep, email: Annotated[bounds.line(320), Form()] = "",
            phone: Annotated[bounds.line(40), Form()] = ""):
    return _act(request, session, clock, settings, token, customer, "contact",
                lambda w: actions.update_contact(session, clock, customer, email, phone, w))


@router.post("/{token}/channels")
def channels(token: str, customer: PortalCustomer, request: Request, session: SessionDep, clock: ClockDep,
             settings: SettingsDep, channel: Annotated[bounds.line(10), Form()],
             wanted: Annotated[bool, Form()]):
    return _act(request, session, clock, settings, token, customer, "channels",
                lambda w: actions.set_channel(session, clock, customer, channel, wanted))
