"""One-click unsubscribe (RFC 8058) from the List-Unsubscribe header, and the same link for people.

Public by design: the signed token is the authorisation, and it names one customer and one channel.
An outdated token (its link version is behind the customer's) still stops the channel, as any
doubt about a wish to stop does, and the team is asked to confirm it.
"""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import HTMLResponse
from jinja2 import Template

from dunning import audit, languages
from dunning.contacts import opt_out
from dunning.deps import ClockDep, SessionDep, SettingsDep
from dunning.errors import DomainError
from dunning.inputs import BoundedRoute
from dunning.ledger.models import Customer
from dunning.links import read_token
from dunning.tasks.service import open_task
from dunning.web.portal.strings import language

router = APIRouter(include_in_schema=False, route_class=BoundedRoute)

PAGE = Template(
    """<!doctype html><html lang="{{ lang }}"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>{{ title }}</title></head>
<body style="font-family: system-ui, sans-serif; max-width: 36rem; margin: 3rem auto; padding: 0 1rem">
<h1>{{ title }}</h1><p>{{ text }}</p>
{% if form %}<form method="post"><button type="submit">{{ button }}</button></form>{% endif %}
</body></html>""",
    autoescape=True,
)


def _page(customer: Customer | None, state: str, channel: str, status: int = 200) -> HTMLResponse:
    lang = language(customer.language if customer else None)
    words = languages.strings(lang)["unsubscribe"]
    ch = languages.strings(lang)["channels"].get(channel, channel)
    title, text, button = words[f"{state}_title"], words[f"{state}_text"], words.get(f"{state}_button", "")
    return HTMLResponse(
        PAGE.render(lang=lang, title=title, text=text.format(ch=ch), button=button, form=state == "ask"),
        status_code=status,
    )


def _refused(message: str) -> HTMLResponse:
    return HTMLResponse(PAGE.render(lang="en", title="Link not valid", text=message, form=False), status_code=403)


@router.get("/unsubscribe/{token}")
def confirm(token: str, session: SessionDep, clock: ClockDep, settings: SettingsDep) -> HTMLResponse:
    try:
        claims = read_token(settings, "unsubscribe", token, max_age_days=365, clock=clock)
    except DomainError as e:
        return _refused(e.message)
    return _page(session.get(Customer, claims.customer_id), "ask", claims.channel or "email")


@router.post("/unsubscribe/{token}")
def unsubscribe(token: str, session: SessionDep, clock: ClockDep, settings: SettingsDep) -> HTMLResponse:
    try:
        claims = read_token(settings, "unsubscribe", token, max_age_days=365, clock=clock)
    except DomainError as e:
        return _refused(e.message)
    customer = session.get(Customer, claims.customer_id)
    if customer is None:
        return _refused("this link is not valid")
    channel = claims.channel or "email"
    outdated = not claims.current(customer)
    if opt_out(session, clock, customer.id, channel, "unsubscribe_link"):
        audit.record(
            session,
            clock,
            actor=f"customer:{customer.external_id}",
            action="contact.opt_out",
            subject_type="customer",
            subject_id=customer.external_id,
            channel=channel,
            source="link",
            outdated_link=outdated,
        )
        if outdated:
            # A link sent before the contact details changed (or the links were revoked): whoever
            # clicked may not be the customer. Unsure whether the customer asked to stop: stop, and
            # a person asks them.
            open_task(
                session,
                clock,
                kind="review",
                key=f"outdated_unsubscribe:{customer.id}:{channel}",
                customer_id=customer.id,
                title=f"{customer.name} unsubscribed from {channel} through an outdated link",
                detail="The link was sent before the customer's contact details changed or their links were "
                f"revoked. {channel} is stopped; ask the customer whether they meant it, and opt them "
                "back in if not.",
            )
    return _page(customer, "done", channel)
