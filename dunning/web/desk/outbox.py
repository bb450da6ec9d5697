"""The outbox: what is planned, waiting, sent, failed or in doubt, and each message as rendered."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import FileResponse, HTMLResponse
from jinja2 import TemplateError
from sqlalchemy import func, select
from sqlmodel import Session, col

from dunning import bounds
from dunning.cases.compose import Composer, snapshot
from dunning.cases.models import Case
from dunning.channels.gsm import count_segments
from dunning.channels.render import TemplateContextError, render_email, render_letter_html
from dunning.clock import Clock
from dunning.config import Settings
from dunning.deps import ClockDep, RowId, SessionDep, SettingsDep
from dunning.errors import NotFound
from dunning.inputs import BoundedRoute
from dunning.ledger.models import Customer, Invoice
from dunning.outbox import service as outbox_service
from dunning.outbox.models import PENDING, Attempt, Message
from dunning.web.desk.deps import Agent, render
from dunning.web.desk.paging import PageNo, page_of

router = APIRouter(prefix="/desk/outbox", include_in_schema=False, route_class=BoundedRoute)
STATUSES = ("awaiting_approval", "queued", "sending", "sent", "failed", "in_doubt", "cancelled", "rejected")
PAGE = 100


@router.get("")
def outbox_list(
    desk: Agent,
    session: SessionDep,
    status: Annotated[bounds.line(20), Query()] = "",
    channel: Annotated[bounds.line(20), Query()] = "",
    page: PageNo = 1,
) -> HTMLResponse:
    stmt = select(Message, Customer).join(Customer, col(Customer.id) == col(Message.customer_id))
    if status:
        stmt = stmt.where(col(Message.status) == status)
    if channel:
        stmt = stmt.where(col(Message.channel) == channel)
    rows, pager = page_of(
        session,
        stmt.order_by(col(Message.send_after).desc(), col(Message.id).desc()),
        "/desk/outbox",
        page,
        PAGE,
        status=status,
        channel=channel,
    )
    counts = dict(session.execute(select(col(Message.status), func.count()).group_by(col(Message.status))).all())
    return render(
        session,
        desk,
        "desk/outbox.html",
        active="outbox",
        rows=rows,
        counts=counts,
        status=status,
        channel=channel,
        statuses=STATUSES,
        pager=pager,
    )


@dataclass
class Rendered:
    """What the page shows: the stored copy once sent, a rendering made now before that."""

    stored: bool
    subject: str | None = None
    text: str | None = None
    html: str | None = None
    pdf: bool = False
    problem: str | None = None
    recipient: str | None = None

    @property
    def segments(self) -> int | None:
        return count_segments(self.text).segments if self.text and not self.stored else None


def rendering(session: Session, clock: Clock, settings: Settings, message: Message) -> Rendered:
    if message.body_text or message.body_html or message.pdf_path:
        return Rendered(
            True,
            message.subject,
            message.body_text,
            message.body_html,
            pdf=bool(message.pdf_path) and Path(message.pdf_path).is_file(),
            recipient=message.recipient,
        )
    if message.status not in PENDING:
        return Rendered(False, problem="nothing was rendered for this message")
    customer = session.get(Customer, message.customer_id)
    case = session.get(Case, message.case_id) if message.case_id else None
    invoices = list(
        session.execute(
            select(Invoice)
            .where(col(Invoice.id).in_(message.invoice_ids or [-1]))
            .order_by(col(Invoice.due_on), col(Invoice.id))
        ).scalars()
    )
    composer = Composer(settings, clock)
    snap = snapshot(session, [message])
    # to whom it would go now: the stored recipient is only written when it is sent
    to, cc = composer.addressed(snap, message)
    recipient = composer.recipient(message, customer, to)
    if cc:
        recipient = f"{recipient}, cc {', '.join(c.email or '' for c in cc)}"
    try:
        ctx = composer.context(session, snap, message, customer, case, invoices, clock.now(), next(iter(to), None))
        if message.channel == "email":
            email = render_email(message.template, ctx)
            return Rendered(False, email.subject, email.text, email.html, recipient=recipient)
        if message.channel == "sms":
            return Rendered(False, text=composer.sms_text(snap, message, customer, ctx), recipient=recipient)
        return Rendered(False, ctx.reference, html=render_letter_html(message.template, ctx), recipient=recipient)
    except (TemplateError, TemplateContextError, ValueError, LookupError) as e:
        # a template the team broke must not take the outbox page down with it
        return Rendered(False, problem=f"could not render a preview: {e}", recipient=recipient)


@router.get("/{message_id}")
def message_page(
    message_id: RowId, desk: Agent, session: SessionDep, clock: ClockDep, settings: SettingsDep
) -> HTMLResponse:
    message = outbox_service.get(session, message_id)
    attempts = (
        session.execute(select(Attempt).where(col(Attempt.message_id) == message.id).order_by(col(Attempt.started_at)))
        .scalars()
        .all()
    )
    return render(
        session,
        desk,
        "desk/message.html",
        active="outbox",
        m=message,
        customer=session.get(Customer, message.customer_id),
        attempts=attempts,
        shown=rendering(session, clock, settings, message),
    )


# A rendered email in the desk's frame. Its styles are inline, as email needs them: the page
# gets a policy of its own, sandboxed, that runs nothing and loads nothing but its styles and
# inline images (the desk's own policy allows no inline style, and a srcdoc frame inherits it).
EMAIL_POLICY = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; sandbox; frame-ancestors 'self'"


@router.get("/{message_id}/html")
def message_html(
    message_id: RowId, desk: Agent, session: SessionDep, clock: ClockDep, settings: SettingsDep
) -> HTMLResponse:
    shown = rendering(session, clock, settings, outbox_service.get(session, message_id))
    if not shown.html:
        raise NotFound(f"message {message_id} has no HTML to show")
    return HTMLResponse(shown.html, headers={"content-security-policy": EMAIL_POLICY})


@router.get("/{message_id}/pdf")
def message_pdf(message_id: RowId, desk: Agent, session: SessionDep, settings: SettingsDep) -> FileResponse:
    message = outbox_service.get(session, message_id)
    path = Path(message.pdf_path) if message.pdf_path else None
    # the path is ours, but serve nothing outside the var directory whatever a row says
    if path is None or not path.is_file() or not path.resolve().is_relative_to(settings.var_dir.resolve()):
        raise NotFound(f"message {message_id} has no stored PDF")
    return FileResponse(
        path, media_type="application/pdf", filename=f"message-{message.id}.pdf", content_disposition_type="inline"
    )
