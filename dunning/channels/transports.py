"""One transport per channel, real where Settings configure a provider, files otherwise."""

from __future__ import annotations

import logging
from typing import Any

from dunning.channels.agency import AgencyWebhookTransport
from dunning.channels.contract import Transport
from dunning.channels.email import MailIdentity, SmtpTransport
from dunning.channels.files import (
    FileAgencyTransport,
    FileDropLetterProvider,
    FileEmailTransport,
    FileSmsTransport,
)
from dunning.channels.letter import HttpLetterProvider, LetterProvider, LetterTransport
from dunning.channels.sms import TwilioSmsTransport
from dunning.config import masked_url

log = logging.getLogger(__name__)


def describe_transports(settings: Any) -> dict[str, str]:
    """How each channel will send, in words, for the start-up log (no secret in it)."""
    real, outbox = settings.real_providers(), settings.outbox_dir
    twilio_from = settings.twilio_messaging_service_sid or settings.twilio_from_number or "no sender set"
    return {
        "email": (
            f"SMTP {settings.smtp_host}:{settings.smtp_port} ({settings.smtp_security}), from "
            f"{settings.smtp_from_address}"
            if real["email"]
            else f"files under {outbox / 'email'} (DUNNING_SMTP_HOST unset)"
        ),
        "sms": (
            f"Twilio, from {twilio_from}"
            if real["sms"]
            else f"file {outbox / 'sms.jsonl'} (DUNNING_TWILIO_ACCOUNT_SID/_AUTH_TOKEN unset)"
        ),
        "letter": (
            f"provider {masked_url(real['letter'])}"
            if real["letter"]
            else f"PDF files under {outbox / 'letters'} (DUNNING_LETTER_PROVIDER_URL unset)"
        ),
        "agency": (
            f"webhook {masked_url(real['agency'])}"
            if real["agency"]
            else f"files under {outbox / 'agency'} (DUNNING_AGENCY_WEBHOOK_URL unset)"
        ),
    }


def build_transports(settings: Any, *, letter_provider: LetterProvider | None = None) -> dict[str, Transport]:
    """letter_provider: an adapter for a specific printing house, overriding letter_provider_url."""
    outbox, real = settings.outbox_dir, settings.real_providers()
    transports: dict[str, Transport] = {}

    if real["email"]:
        transports["email"] = SmtpTransport(settings)
    else:
        transports["email"] = FileEmailTransport(outbox / "email", MailIdentity.from_settings(settings))

    if real["sms"]:
        transports["sms"] = TwilioSmsTransport(settings)
    else:
        transports["sms"] = FileSmsTransport(outbox / "sms.jsonl")

    if letter_provider is None:
        letter_provider = (
            HttpLetterProvider(settings.letter_provider_url, timeout=settings.http_timeout_seconds)
            if real["letter"]
            else FileDropLetterProvider(outbox / "letters")
        )
    transports["letter"] = LetterTransport(letter_provider, outbox / "letters")

    if real["agency"]:
        transports["agency"] = AgencyWebhookTransport(
            settings.agency_webhook_url, settings.agency_webhook_secret or "", timeout=settings.http_timeout_seconds
        )
    else:
        transports["agency"] = FileAgencyTransport(outbox / "agency")

    log.debug("channels: %s", ", ".join(f"{name}={type(t).__name__}" for name, t in transports.items()))
    return transports


async def close_transports(transports: dict[str, Transport]) -> None:
    for transport in transports.values():
        try:
            await transport.close()
        except Exception:  # closing is best effort; one stuck client must not keep others open
            log.exception("closing the %s transport failed", transport.channel)
