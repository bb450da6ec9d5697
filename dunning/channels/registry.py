"""One transport per channel, real where Settings configure a provider, files otherwise."""
from __future__ import annotations

import logging
from typing import Any

from dunning.channels.agency import AgencyWebhookTransport
from dunning.channels.base import Transport
from dunning.channels.email import MailIdentity, SmtpTransport
from dunning.channels.files import (
    FileAgencyTransport,
    FileDropLetterProvider,
    FileEmailTransport,
    FileSmsTransport,
)
from dunning.channels.letter import HttpLetterProvider, LetterProvider, LetterTransport
from dunning.channels.sms import TwilioSmsTransport

log = logging.getLogger(__name__)


def build_transports(settings: Any, *, letter_provider: LetterProvider | None = None) -> dict[str, Transport]:
    """letter_provider: an adapter for a specific printing house, overriding letter_provider_url."""
    outbox = settings.outbox_dir
    transports: dict[str, Transport] = {}

    if settings.smtp_host:
        transports["email"] = SmtpTransport(settings)
    else:
        transports["email"] = FileEmailTransport(outbox / "email", MailIdentity.from_settings(settings))

    if settings.twilio_account_sid and settings.twilio_auth_token:
        transports["sms"] = TwilioSmsTransport(settings)
    else:
        transports["sms"] = FileSmsTransport(outbox / "sms.jsonl")

    if letter_provider is None:
        letter_provider = (
            HttpLetterProvider(settings.letter_provider_url, timeout=settings.http_timeout_seconds)
            if settings.letter_provider_url else FileDropLetterProvider(outbox / "letters")
        )
    transports["letter"] = LetterTransport(letter_provider, outbox / "letters")

    if settings.agency_webhook_url:
        transports["agency"] = AgencyWebhookTransport(
            settings.agency_webhook_url, settings.agency_webhook_secret or "",
            timeout=settings.http_timeout_seconds)
    else:
        transports["agency"] = FileAgencyTransport(outbox / "agency")

    log.info("channels: %s", ", ".join(f"{name}={type(t).__name__}" for name, t in transports.items()))
    return transports


async def close_transports(transports: dict[str, Transport]) -> None:
    for transport in transports.values():
        try:
            await transport.close()
        except Exception:  # closing is best effort; one stuck client must not keep others open
            log.exception("closing the %s transport failed", transport.channel)
