"""Delivery status notifications: a bounce is not a reply.

RFC 3464 reports (multipart/report with a message/delivery-status part: one block per recipient
with Final-Recipient, Action and Status) are read field by field. The common non-standard ones
(Postfix, Exim, qmail, Exchange and Gmail notices in plain text) are read from their text: the
addresses they name before the copy of the message, and the SMTP reply and enhanced status code
(RFC 3463) next to each.

Each failure is classed:
- `address`: permanent and about the address itself (5.1.x: no such user or domain; 5.2.1:
  mailbox disabled; or a 5xx whose words say the user is unknown): the address is invalid;
- `refused`: permanent for another reason (5.7.x policy or spam filter, 5.2.2 mailbox full, 5.3.x
  system): the address may be fine, so a person decides;
- `delayed`: temporary (4.x.x, Action: delayed): the sender's server is still trying; nothing to do.

The returned message's Message-ID, Reply-To and To (from its message/rfc822 or text/rfc822-headers
part, or the copy in the text) say which message of ours bounced.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from email.message import EmailMessage, Message

from dunning.replies.mailwords import words

ADDRESS, REFUSED, DELAYED = "address", "refused", "delayed"
MAX_FAILURES = 20  # a report names its recipients; more than this is not one of our messages

_DAEMONS = {"mailer-daemon", "postmaster", "mail-daemon", "mailerdaemon", "mdaemon"}
_ADDRESS = re.compile(r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?")
_STATUS = re.compile(r"(?<![\d.])([245])\.(\d{1,3})\.(\d{1,3})(?![\d.])")
_SMTP_CODE = re.compile(r"(?<![\d.#-])#?([45]\d\d)(?=[ -]|$)", re.M)
# Where a notice's own words end and the copy of the message begins (qmail, Exim, sendmail,
# Exchange, old Gmail...), or the copy's first header when there is no such line.
_COPY = re.compile(
    r"^\W*(?:below this line is a copy|this is a copy of the message|original message (?:follows|headers)"
    r"|-+ ?original message ?-+|the header of the original message|message text follows|returned message follows"
    r"|unsent message below|return-path:|received: from)",
    re.I | re.M,
)
# A failure that says the user or domain does not exist, when the code is only "5.0.0" or "550".
_UNKNOWN = re.compile(
    r"user unknown|unknown (?:user|recipient|domain)|user not exist|no such (?:user|mailbox|recipient|domain)"
    r"|does not exist|doesn't exist|not recogni[sz]ed|not listed in|(?:address|recipient) (?:not found|unknown)"
    r"|address rejected|not found|invalid (?:recipient|mailbox|address|domain|userid)"
    r"|mailbox (?:unavailable|not found)|unrouteable|host (?:or domain name )?not found"
    r"|(?:is|been) (?:disabled|deactivated|inactive)|no mailbox here|doesn't have an? [\w. -]{1,40} account",
    re.I,
)
# Words of a policy refusal, which can come with "address rejected": SPF, spam lists, rate limits.
_POLICY = re.compile(r"spf|dmarc|dkim|spam|blacklist|blocklist|blocked|rate|policy|reputation|sender", re.I)
_PERMANENT_WORDS = re.compile(r"permanent(?:ly)?|given up|failed permanently|will not (?:try|retry)", re.I)
_TEMPORARY_WORDS = re.compile(r"delayed|will (?:keep )?(?:re)?try|temporar|has not yet been delivered|deferred", re.I)


@dataclass(frozen=True)
class Failure:
    recipient: str  # the address as we sent to it (Original-Recipient when the report gives one)
    kind: str  # address | refused | delayed
    status: str | None  # enhanced status code, e.g. "5.1.1"
    diagnostic: str  # the remote server's words, bounded

    @property
    def reason(self) -> str:
        return " ".join(x for x in (self.status, self.diagnostic) if x)[:500] or "returned as undeliverable"


@dataclass(frozen=True)
class Bounce:
    failures: tuple[Failure, ...]
    original_message_ids: tuple[str, ...]  # the returned message's Message-ID (and the report's own pointers)
    original_addresses: tuple[str, ...]  # its Reply-To, From and To: where our reply token would be


def read_bounce(msg: EmailMessage, *, subject: str, from_address: str | None) -> Bounce | None:
    report = _report_part(msg)
    if report is not None:
        # A report that only says "delivered" or "relayed" has no failures, and is no reply either.
        return Bounce(tuple(_dsn_failures(report.get_payload())[:MAX_FAILURES]), *_original(msg))
    text = _texts(msg)
    if not _looks_like_a_bounce(msg, subject, from_address, _before_copy(text)):
        return None
    # A report whose MIME structure is broken still has its fields in the text.
    failures = _dsn_failures(_blocks(text)) if re.search(r"^final-recipient:", text, re.I | re.M) else []
    failures = failures or _text_failures(msg, _before_copy(text), exclude=_own_addresses(msg))
    return Bounce(tuple(failures[:MAX_FAILURES]), *_original(msg)) if failures else None


# Codes that say the address itself is wrong; the others of class 5.1 and 5.2.1 ("disabled", but
# also Gmail's "receiving mail at a rate that prevents additional messages") need the words too.
_ADDRESS_CODES = {"5.1.1", "5.1.2", "5.1.3", "5.1.6", "5.1.10"}
_ADDRESS_CODES_WITH_WORDS = {"", "5.0.0", "5.1.0", "5.1.4", "5.2.0", "5.2.1", "5.4.1", "5.4.4", "5.5.0"}


def classify(status: str | None, diagnostic: str, action: str | None = None) -> str:
    """address | refused | delayed, from the enhanced status code, the SMTP reply and the words.
    The remote server's own code in the diagnostic wins over the reporting server's Status."""
    action = (action or "").lower()
    code = _status(diagnostic) or status or ""
    smtp = _SMTP_CODE.search(diagnostic)
    reply = smtp.group(1) if smtp else ""
    if action == "delayed" or code.startswith("4") or (not code and reply.startswith("4")):
        return DELAYED
    if not (code.startswith("5") or reply.startswith("5") or action == "failed" or _PERMANENT_WORDS.search(diagnostic)):
        return DELAYED if _TEMPORARY_WORDS.search(diagnostic) else REFUSED  # unclear: a person looks
    if code in ("5.1.7", "5.1.8"):  # about our sender address, not theirs
        return REFUSED
    if code in _ADDRESS_CODES:
        return ADDRESS
    if (
        (code in _ADDRESS_CODES_WITH_WORDS or code.startswith("5.1."))
        and _UNKNOWN.search(diagnostic)
        and not _POLICY.search(diagnostic)
    ):
        return ADDRESS
    return REFUSED


# --------------------------------------------------------------------------- RFC 3464


def _report_part(msg: EmailMessage) -> Message | None:
    for part in msg.walk():
        if part.get_content_type() in ("message/delivery-status", "message/global-delivery-status"):
            return part
    return None


def _dsn_failures(blocks: object) -> list[Failure]:
    """The per-recipient blocks (the first block is about the message and has no recipient)."""
    if isinstance(blocks, str):  # a parser that left the fields as text
        blocks = _blocks(blocks)
    failures = []
    for block in blocks if isinstance(blocks, list) else []:
        recipient = _recipient(block.get("original-recipient")) or _recipient(block.get("final-recipient"))
        if recipient is None:
            continue
        status = _status(str(block.get("status") or ""))
        diagnostic = _one_line(str(block.get("diagnostic-code") or ""))
        diagnostic = re.sub(r"^\s*(?:smtp|x-[\w-]+)\s*;\s*", "", diagnostic, flags=re.I)
        action = str(block.get("action") or "").strip().lower()
        if action in ("delivered", "expanded", "relayed"):
            continue
        failures.append(Failure(recipient, classify(status, diagnostic, action), status, diagnostic[:500]))
    return failures


def _blocks(text: str) -> list[Message]:
    from email import message_from_string

    return [message_from_string(b.strip()) for b in re.split(r"\r?\n[ \t]*\r?\n", text) if ":" in b][:200]


def _recipient(value: object) -> str | None:
    # "rfc822; jane@example.com", "rfc822;<jane@example.com>"
    m = _ADDRESS.search(str(value or ""))
    return m.group(0).strip(".").lower() if m else None


def _status(value: str) -> str | None:
    m = _STATUS.search(value)
    return ".".join(m.groups()) if m else None


def _one_line(value: str) -> str:
    return re.sub(r"\s+", " ", value).strip()


# --------------------------------------------------------------------------- notices in plain text


def _looks_like_a_bounce(msg: EmailMessage, subject: str, from_address: str | None, notice: str) -> bool:
    """A notice from a mail server: Exim's X-Failed-Recipients, or a daemon sender (or the null
    sender, or a report type) with a bounce subject or an SMTP code in its text."""
    if msg.get("x-failed-recipients"):
        return True
    sender = (from_address or "").partition("@")[0].lower()
    name = str(msg.get("from") or "").lower()
    automatic = (
        sender in _DAEMONS
        or any(d in name for d in ("mailer-daemon", "mail delivery", "postmaster"))
        or str(msg.get("return-path") or "").strip() == "<>"
        or msg.get_content_type() == "multipart/report"
    )
    return automatic and bool(
        words().bounce_subject.search(subject) or _STATUS.search(notice) or _SMTP_CODE.search(notice)
    )


def _texts(msg: EmailMessage) -> str:
    """The notice's text parts, outside any returned message (HTML when it has no text)."""
    from dunning.replies.htmltext import html_to_text
    from dunning.replies.mail import decode_text

    parts = list(_outside_returned(msg))
    plain = [
        decode_text(p)
        for p in parts
        if p.get_content_type() == "text/plain" or (p.get_content_maintype() == "multipart" and not p.is_multipart())
    ]  # a broken multipart: its text
    if not plain:
        plain = [html_to_text(decode_text(p)) for p in parts if p.get_content_type() == "text/html"]
    return "\n".join(plain)[:100_000]


def _before_copy(text: str) -> str:
    m = _COPY.search(text)
    return text[: m.start()] if m else text


def _outside_returned(msg: EmailMessage):
    stack = [msg]
    while stack:
        part = stack.pop(0)
        if part.get_content_maintype() == "message" or part.get_content_type() == "text/rfc822-headers":
            continue
        if part.is_multipart():
            stack = list(part.iter_parts()) + stack
        else:
            yield part


def _text_failures(msg: EmailMessage, text: str, exclude: set[str]) -> list[Failure]:
    named = [a.strip().lower() for a in re.split(r"[,\s]+", str(msg.get("x-failed-recipients") or "")) if "@" in a]
    lines = text.split("\n")
    found: dict[str, str] = {}
    for i, line in enumerate(lines):
        for m in _ADDRESS.finditer(line):
            address = m.group(0).strip(".").lower()
            if address in exclude or address in found or address.partition("@")[0] in _DAEMONS:
                continue
            # The diagnostic is what the notice says next to the address: its line and the few after.
            found[address] = _one_line(" ".join(lines[i : i + 5]))
    recipients = named or list(found)
    whole = _one_line(text)
    failures = []
    action = "failed" if _PERMANENT_WORDS.search(whole) else None
    for address in recipients[:MAX_FAILURES]:
        diagnostic = found.get(address) or whole
        if not (_STATUS.search(diagnostic) or _SMTP_CODE.search(diagnostic)):
            diagnostic = whole  # the code is elsewhere in the notice ("Technical details: 550 ...")
        status = _status(diagnostic)
        failures.append(Failure(address, classify(status, diagnostic, action), status, diagnostic[:500]))
    return failures


def _own_addresses(msg: EmailMessage) -> set[str]:
    """The notice's own From, To and Delivered-To: ours or the reporting server's, never the failure."""
    out = set()
    for name in ("from", "to", "delivered-to", "x-original-to", "reply-to", "sender"):
        for value in msg.get_all(name, []) or []:
            out.update(a.lower() for a in _ADDRESS.findall(str(value)))
    return out


# --------------------------------------------------------------------------- the returned message


def _original(msg: EmailMessage) -> tuple[tuple[str, ...], tuple[str, ...]]:
    own_id = str(msg.get("message-id") or "").strip()
    ids: list[str] = []
    addresses: list[str] = []
    # Gmail also points at the original from the notice itself.
    for name in ("x-original-message-id", "in-reply-to", "references"):
        ids += re.findall(r"<[^<>\s]{1,250}>", str(msg.get(name) or ""))
    for headers in _returned_headers(msg):
        ids += re.findall(r"<[^<>\s]{1,250}>", _field(headers, "message-id"))
        for name in ("reply-to", "from", "to"):
            addresses += _ADDRESS.findall(_field(headers, name))  # as written: reply tokens are case-sensitive
    ids = [i for i in dict.fromkeys(ids) if i != own_id]
    return tuple(ids[:10]), tuple(dict.fromkeys(addresses))[:20]


def _returned_headers(msg: EmailMessage) -> list[str]:
    """Header blocks of the returned message: an attached message/rfc822 or text/rfc822-headers
    part, or the copy pasted into the notice's text (qmail, Exim, Exchange)."""
    from dunning.replies.mail import decode_text

    out = []
    for part in msg.walk():
        if part.get_content_type() == "message/rfc822":
            inner = part.get_payload()
            if isinstance(inner, list) and inner:
                out.append("".join(f"{k}: {v}\n" for k, v in inner[0].raw_items()))
        elif part.get_content_type() == "text/rfc822-headers":
            out.append(decode_text(part))
        elif part.get_content_type() == "text/plain":
            text = decode_text(part)[:200_000]
            m = _COPY.search(text)
            if m:
                out.append(text[m.start() :])
    return out


def _field(headers: str, name: str) -> str:
    """A header's value (with its folded lines) from a block of header text."""
    m = re.search(rf"^{name}:[ \t]*(.*(?:\r?\n[ \t]+.*)*)", headers, re.I | re.M)
    return m.group(1)[:2000] if m else ""
