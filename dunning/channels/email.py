"""Email over SMTP with aiosmtplib.

One transport object keeps one SMTP connection open across a dispatch batch: the TCP, TLS and
AUTH round trips are paid once, and each message costs MAIL, RCPT and DATA. Sends are
serialised on that connection by a lock; a dead connection is replaced on the next send.

What the outbox fills in the Envelope:
  recipient       the address (ASCII; internationalised addresses are refused as permanent)
  to, cc          several addresses in To (recipient alone when empty) and in Cc; a refusal of
                  any of them fails the message and names that address (TransportError.address)
  subject, text   required; html optional (multipart/alternative when present)
  pdf_path        optional attachment (the statement or the copy of a registered letter)
  reply_to        a token (letters, digits, ".", "_", "-", "=") that becomes the plus address
                  collections+<token>@<reply domain>, so a reply finds its case; a value with
                  "@" is used as the Reply-To address as it is
  headers         extra headers copied verbatim; a "Message-ID" here is reused instead of a new
                  one, so a retry after an uncertain attempt carries the same id
  metadata        "unsubscribe_url": https URL of the one-click unsubscribe endpoint;
                  "recipient_name": display name for the To header; "recipient_names": one per
                  address (to and cc);
                  "attachment_name": file name shown for pdf_path

Errors: 4xx replies, timeouts and dropped connections are retryable. A 5xx to RCPT or DATA is
about this recipient or this content (unknown user, rejected as spam, too large) and is
permanent. A 5xx to MAIL FROM, or a failed login, says our sender or account is misconfigured:
every message would fail the same way, so it is retryable with a code the team can see, and a
fix lets the queue drain instead of leaving a batch marked failed for good. The exception is
552 at MAIL (the declared size is over the server's limit): that one is about the message.
A refusal at RCPT also marks the error `recipient` (the address itself is bad), and a timeout or
a dropped connection once the body was sent marks it `uncertain` (the server may have kept it).
"""

from __future__ import annotations

import asyncio
import re
import secrets
import ssl
from dataclasses import dataclass
from email.utils import formataddr, formatdate
from typing import Any

import aiosmtplib

from dunning.channels import mime
from dunning.channels.contract import Envelope, ProviderReceipt, TransportError

_TOKEN = re.compile(r"^[A-Za-z0-9._=-]{1,64}$")
# Headers the transport owns; the same names in envelope.headers are ignored rather than doubled.
_OWN_HEADERS = {
    "from",
    "to",
    "subject",
    "date",
    "reply-to",
    "list-unsubscribe",
    "list-unsubscribe-post",
    "mime-version",
    "content-type",
    "content-transfer-encoding",
}


@dataclass(frozen=True)
class MailIdentity:
    from_address: str
    from_name: str
    reply_domain: str | None

    @classmethod
    def from_settings(cls, settings: Any) -> MailIdentity:
        return cls(settings.smtp_from_address, settings.smtp_from_name, settings.smtp_reply_domain)

    @property
    def domain(self) -> str:
        return self.reply_domain or self.from_address.rpartition("@")[2] or "localhost"

    def reply_address(self, token: str) -> str:
        local = self.from_address.partition("@")[0].partition("+")[0] or "collections"
        return f"{local}+{token}@{self.domain}"


@dataclass(frozen=True)
class Composed:
    data: bytes  # exactly what goes on the wire; the file transport writes the same bytes
    message_id: str
    reply_to: str | None


def compose_bytes(envelope: Envelope, identity: MailIdentity) -> Composed:
    message_id = envelope.headers.get("Message-ID") or new_message_id(envelope.message_id, identity.domain)
    headers = [
        ("From", formataddr((identity.from_name, identity.from_address))),
        ("To", _addresses(envelope, addressed_to(envelope))),
        ("Subject", envelope.subject),
        ("Date", formatdate(usegmt=True)),
        ("Message-ID", message_id),
    ]
    if envelope.cc:
        headers.append(("Cc", _addresses(envelope, envelope.cc)))
    reply_to = _reply_to(envelope, identity)
    if reply_to:
        headers.append(("Reply-To", reply_to))
    unsubscribe = envelope.metadata.get("unsubscribe_url")
    targets = []
    if reply_to:
        targets.append(f"<mailto:{reply_to}?subject=unsubscribe>")
    if unsubscribe:
        targets.append(f"<{unsubscribe}>")
    if targets:
        headers.append(("List-Unsubscribe", ", ".join(targets)))
    if unsubscribe and unsubscribe.startswith("https://"):
        # RFC 8058: mailbox providers POST to the https target; only valid with an https URL.
        headers.append(("List-Unsubscribe-Post", "List-Unsubscribe=One-Click"))
    # Out-of-office robots honour this and stay quiet, so the reply parser sees people.
    headers.append(("Auto-Submitted", "auto-generated"))
    headers += [
        (name, value)
        for name, value in envelope.headers.items()
        if name.lower() not in _OWN_HEADERS and name.lower() != "message-id"
    ]
    attachment = None
    if envelope.pdf_path is not None:
        attachment = (
            envelope.pdf_path.read_bytes(),
            envelope.metadata.get("attachment_name") or envelope.pdf_path.name,
            "application/pdf",
        )
    try:
        # Quoted-printable keeps every line 7-bit: the bytes stored are the bytes sent, whether
        # or not the relay offers 8BITMIME.
        data = mime.message(headers, envelope.text, envelope.html, attachment)
    except mime.HeaderError as exc:
        raise TransportError(str(exc), permanent=True, code="bad_header") from exc
    return Composed(data, message_id, reply_to)


def addressed_to(envelope: Envelope) -> tuple[str, ...]:
    return envelope.to or (envelope.recipient,)


def _addresses(envelope: Envelope, addresses: tuple[str, ...]) -> str:
    names = envelope.metadata.get("recipient_names") or {}
    alone = envelope.metadata.get("recipient_name") or ""
    return ", ".join(formataddr((names.get(a) or alone, a)) for a in addresses)


def new_message_id(message_id: int, domain: str) -> str:
    # Like email.utils.make_msgid minus its timestamp and pid, so that with a usual domain the
    # header fits one line unfolded. Our message id says where it came from; 64 random bits
    # make it unique across deployments and attempts.
    return f"<dunning.{message_id}.{secrets.token_hex(8)}@{domain}>"


def _reply_to(envelope: Envelope, identity: MailIdentity) -> str | None:
    value = envelope.reply_to
    if not value:
        return None
    if "@" in value:
        return value
    if not _TOKEN.match(value):
        raise TransportError(
            f"reply token {value!r} cannot be used in an address", permanent=True, code="bad_reply_token"
        )
    return identity.reply_address(value)


class SmtpTransport:
    channel = "email"

    def __init__(self, settings: Any, *, identity: MailIdentity | None = None):
        self._settings = settings
        self._identity = identity or MailIdentity.from_settings(settings)
        self._client: aiosmtplib.SMTP | None = None
        self._lock = asyncio.Lock()
        self.connections_opened = 0  # for tests and the dispatch benchmark

    async def send(self, envelope: Envelope) -> ProviderReceipt:
        rcpts = (*addressed_to(envelope), *envelope.cc)
        for address in rcpts:
            check_address(address)
        msg = compose_bytes(envelope, self._identity)
        async with self._lock:
            reply = await self._transmit(self._identity.from_address, rcpts, msg.data)
        return ProviderReceipt(
            provider_id=msg.message_id, detail={"smtp_reply": reply, "bytes": len(msg.data), "reply_to": msg.reply_to}
        )

    async def close(self) -> None:
        async with self._lock:
            client, self._client = self._client, None
            if client is not None and client.is_connected:
                try:
                    await client.quit()
                except (aiosmtplib.SMTPException, OSError):
                    client.close()

    async def _transmit(self, sender: str, recipients: tuple[str, ...], data: bytes) -> str:
        stage, address = "connect", None
        try:
            client = await self._connected()
            options = [f"SIZE={len(data)}"] if client.supports_extension("size") else []
            stage = "mail"
            try:
                await client.mail(sender, options=options)
            except (aiosmtplib.SMTPServerDisconnected, aiosmtplib.SMTPResponseException) as exc:
                if isinstance(exc, aiosmtplib.SMTPResponseException) and exc.code != 421:
                    raise
                # Nothing of this message has reached the server, so replacing a connection the
                # server dropped while idle (or closed with 421) cannot send it twice.
                self._drop()
                stage = "connect"
                client = await self._connected()
                stage = "mail"
                await client.mail(sender, options=options)
            stage = "rcpt"
            for address in recipients:
                await client.rcpt(address)
            stage = "data"
            response = await client.data(data)
            return f"{response.code} {response.message}"
        except aiosmtplib.SMTPResponseException as exc:
            await self._reset_after(exc)
            raise _classify_reply(stage, exc.code, exc.message, address) from exc
        except (TimeoutError, aiosmtplib.SMTPException, OSError) as exc:
            # Timeouts and broken connections. After DATA was sent the server may have taken
            # the message: retryable, but uncertain, and the outbox puts it in doubt.
            self._drop()
            raise TransportError(
                f"SMTP {stage}: {type(exc).__name__}: {exc}",
                permanent=False,
                code=f"{stage}_{'timeout' if isinstance(exc, TimeoutError) else 'connection'}",
                uncertain=stage == "data",
            ) from exc

    async def _connected(self) -> aiosmtplib.SMTP:
        if self._client is not None and self._client.is_connected:
            return self._client
        s = self._settings
        client = aiosmtplib.SMTP(
            hostname=s.smtp_host,
            port=s.smtp_port,
            username=s.smtp_user,
            password=s.smtp_password,
            use_tls=s.smtp_security == "tls",
            start_tls=s.smtp_security == "starttls",  # False, not None: "none" means no TLS at all
            tls_context=_tls_context(s),
            timeout=s.smtp_timeout_seconds,
        )
        try:
            await client.connect()
        except BaseException:
            client.close()  # a login or STARTTLS failure leaves a half-open socket behind
            raise
        self._client = client
        self.connections_opened += 1
        return client

    async def _reset_after(self, exc: aiosmtplib.SMTPResponseException) -> None:
        # A refused MAIL/RCPT/DATA leaves the session usable after RSET; keep it for the batch.
        if exc.code == 421 or self._client is None or not self._client.is_connected:
            self._drop()
            return
        try:
            await self._client.rset()
        except (aiosmtplib.SMTPException, OSError):
            self._drop()

    def _drop(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            client.close()


def _classify_reply(stage: str, code: int, message: str, address: str | None = None) -> TransportError:
    text = f"SMTP {stage} refused: {code} {message}"
    if 400 <= code < 500 or stage == "connect":
        return TransportError(text, permanent=False, code=str(code))
    if stage in ("rcpt", "data") or (stage == "mail" and code == 552):
        # Refused at RCPT: the mailbox (unknown user, domain gone); at DATA: this content.
        refused = address if stage == "rcpt" else None
        return TransportError(
            text if refused is None else f"{text} (for {refused})",
            permanent=True,
            code=str(code),
            recipient=stage == "rcpt",
            address=refused,
        )
    return TransportError(text, permanent=False, code=str(code))


def check_address(address: str) -> None:
    local, at, domain = address.rpartition("@")
    if not at or not local or "." not in domain or any(c.isspace() for c in address):
        raise TransportError(
            f"not an email address: {address!r}",
            permanent=True,
            code="invalid_address",
            recipient=True,
            address=address,
        )
    if not address.isascii():
        raise TransportError(
            f"internationalised address not supported: {address!r}",
            permanent=True,
            code="invalid_address",
            recipient=True,
            address=address,
        )


def _tls_context(settings: Any) -> ssl.SSLContext | None:
    if settings.smtp_security == "none":
        return None
    ca_file = getattr(settings, "smtp_ca_file", None)
    context = ssl.create_default_context(cafile=str(ca_file) if ca_file else None)
    if not settings.smtp_validate_certs:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context
