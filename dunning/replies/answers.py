"""What we answer a reply with, in the customer's language.

Confirmations, HELP and STOP answers are the shipped templates (templates/sms, templates/emails),
rendered exactly as the outbox renders them. The one-line acknowledgements below exist only as
SMS answers (TwiML), where a customer who texted expects a word back; by email the team answers.
"""
from __future__ import annotations

import logging
from typing import Any

from sqlmodel import Session

from dunning.cases.compose import Composer
from dunning.cases.models import Case
from dunning.channels import render
from dunning.clock import Clock
from dunning.config import Settings
from dunning.ledger.models import Customer
from dunning.outbox.models import Message

log = logging.getLogger(__name__)

LINES = {
    "en": {
        "person": "{company}: thank you for your message. A member of our team will read it and get back to you.",
        "call": "{company}: thank you. A member of our team will call you.",
        "payment_check": "{company}: thank you. We are checking for your payment and will not send reminders"
                         " in the meantime.",
        "dispute": "{company}: thank you. We have noted that you dispute invoice {invoice}; our team will get back"
                   " to you.",
        "promise_noted": "{company}: thank you, we have noted your payment date. A member of our team will call you.",
        "opted_in": "{company}: you are subscribed again to text messages. Reply STOP to opt out.",
        "unknown_sender": "Thank you for your message. Our team will look into it.",
    },
    "fr": {
        "person": "{company} : merci pour votre message. Un membre de notre équipe va le lire et vous répondra.",
        "call": "{company} : merci. Un membre de notre équipe va vous appeler.",
        "payment_check": "{company} : merci. Nous vérifions votre paiement et ne vous relancerons pas d'ici là.",
        "dispute": "{company} : merci. Nous avons noté votre contestation de la facture {invoice} ; notre équipe"
                   " reviendra vers vous.",
        "promise_noted": "{company} : merci, nous avons noté votre date de paiement. Un membre de notre équipe va"
                         " vous appeler.",
        "opted_in": "{company} : vous êtes de nouveau abonné aux SMS. Répondez STOP pour vous désabonner.",
        "unknown_sender": "Merci pour votre message. Notre équipe va l'examiner.",
    },
}


def line(name: str, language: str, settings: Settings, **values: Any) -> str:
    words = LINES.get(render.normalise_language(language), LINES["en"])
    return render.sms_plain(words[name].format(company=settings.company_name, **values))


def sms_template(session: Session, clock: Clock, settings: Settings, *, template: str, customer: Customer,
                 case: Case | None, extra: dict[str, Any] | None = None) -> str | None:
    """A template rendered for an SMS answer exactly as the outbox would render it: the composer
    prepares a transactional message that is never stored, and its text becomes the TwiML."""
    now = clock.now()
    message = Message(dedupe_key="twiml-answer", case_id=case.id if case else None, customer_id=customer.id,
                      currency=case.currency if case else None, channel="sms", kind=template, template=template,
                      send_after=now, invoice_ids=[], created_at=now, updated_at=now,
                      context={"transactional": True, "extra": extra or {"answer": template}})
    prepared = Composer(settings, clock).prepare(session, message, now)
    if prepared.action != "send" or prepared.envelope is None:
        log.warning("no %s answer for customer %s: %s", template, customer.external_id, prepared.why)
        return None
    return prepared.envelope.text
