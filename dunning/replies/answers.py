"""What we answer a reply with, in the customer's language.

Confirmations, HELP and STOP answers are the shipped templates (templates/sms, templates/emails),
rendered exactly as the outbox renders them. The one-line acknowledgements (`answers` in
templates/strings/<lang>.yaml) exist only as SMS answers (TwiML), where a customer who texted
expects a word back; by email the team answers.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlmodel import Session

from dunning import languages
from dunning.cases.compose import Composer
from dunning.cases.models import Case
from dunning.channels import render
from dunning.clock import Clock
from dunning.config import Settings
from dunning.ledger.models import Customer
from dunning.outbox.models import Message

log = logging.getLogger(__name__)


def line(name: str, language: str, settings: Settings, **values: Any) -> str:
    words = languages.strings(language)["answers"]
    return render.sms_plain(words[name].format(company=settings.company_name, **values))


def sms_template(
    session: Session,
    clock: Clock,
    settings: Settings,
    *,
    template: str,
    customer: Customer,
    case: Case | None,
    extra: dict[str, Any] | None = None,
) -> str | None:
    """A template rendered for an SMS answer exactly as the outbox would render it: the composer
    prepares a transactional message that is never stored, and its text becomes the TwiML."""
    now = clock.now()
    message = Message(
        dedupe_key="twiml-answer",
        case_id=case.id if case else None,
        customer_id=customer.id,
        currency=case.currency if case else None,
        channel="sms",
        kind=template,
        template=template,
        send_after=now,
        invoice_ids=[],
        created_at=now,
        updated_at=now,
        context={"transactional": True, "extra": extra or {"answer": template}},
    )
    prepared = Composer(settings, clock).prepare(session, message, now)
    if prepared.action != "send" or prepared.envelope is None:
        log.warning("no %s answer for customer %s: %s", template, customer.external_id, prepared.why)
        return None
    return prepared.envelope.text
