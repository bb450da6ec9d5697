"""Inbound email: headers, body, attachments, and what the message says.

`parse_inbound(raw)` is the one door: it gives the headers (cleaned of characters a database cannot
store), the text, the part the customer wrote (`reply_text`, see replytext.py), language hints,
whether it is a bounce (bounces.py) or an automatic reply with the return date it gives
(autoreplies.py), and the attachments.

Bounds come first: the standard library's MIME parser recurses once per nested part, so a message
nested thousands of levels deep would exhaust the stack. Its structure is counted in the raw bytes
before parsing; a message over the bounds is read for its headers only and marked `unreadable`
with the reason, for a person to look at.
"""

from __future__ import annotations

import email
import email.policy
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from email.errors import HeaderParseError
from email.header import decode_header, make_header
from email.message import EmailMessage
from email.parser import BytesHeaderParser
from email.utils import getaddresses, parseaddr

from dunning.inputs import storable
from dunning.replies.autoreplies import Autoreply, read_autoreply
from dunning.replies.bounces import Bounce, read_bounce
from dunning.replies.htmltext import html_to_text, tidy
from dunning.replies.replytext import split_reply

# Real mail nests a handful of multiparts (mixed > alternative > related) and forwards a few
# messages; these bounds are far above that and far below what the parser's recursion can take.
MAX_CONTAINERS = 64  # multipart/* and message/* parts in one message
MAX_PARTS = 1_000
MAX_HEADER_CHARS = 2_000  # a header value is read from its first 2,000 characters
MAX_ADDRESS = 254  # RFC 5321: longer is no address
MAX_MESSAGE_ID = 250

_CONTENT_TYPE = re.compile(rb"^content-type:[ \t]*(?:\r?\n[ \t]+)?([a-z0-9!#$&^_.+-]+)/", re.I | re.M)
_CONTAINERS = {b"multipart", b"message"}
_FORWARD_SUBJECT = re.compile(r"^\s*(?:fwd?|fw|tr|wg|rv|i|vs|doorst|enc|pd|пересл)\s*:", re.I)


@dataclass(frozen=True)
class Attachment:
    filename: str | None
    content_type: str
    size: int
    content: bytes = field(repr=False)


@dataclass(frozen=True)
class InboundMail:
    from_address: str | None
    from_name: str | None
    to_addresses: list[str]
    cc_addresses: list[str]
    # Delivered-To / X-Original-To: where the message really arrived when the plus address was a Bcc.
    delivered_to: list[str]
    subject: str
    # Message ids keep their angle brackets, as in the headers: "<abc@example.com>".
    message_id: str | None
    in_reply_to: str | None
    references: list[str]
    date: datetime | None
    text: str
    html: str | None
    # What the customer sent in this message: quoted history and phone footers cut; sign-off,
    # signature and a forwarded message kept (see replytext.py).
    reply_text: str
    attachments: list[Attachment]
    # The forwarded message at the end of reply_text (from its separator line), if any.
    forwarded: str | None = None
    # reply_text without the forwarded message, the sign-off and the signature: what intent rules read.
    own_text: str = ""
    # Languages the message says it is in: Content-Language, then the language of the client's
    # quote header ("Le ... a écrit :" is a French client). Hints, not a detection.
    language_hints: tuple[str, ...] = ()
    # A delivery status notification: one of our messages did not arrive (bounces.py). Not a reply.
    bounce: Bounce | None = None
    # An out-of-office or other automatic answer, with the return date it gives (autoreplies.py).
    autoreply: Autoreply | None = None
    # Why the body was not read (over the bounds above); headers are still there.
    unreadable: str | None = None

    @property
    def recipients(self) -> list[str]:
        return [*self.to_addresses, *self.cc_addresses, *self.delivered_to]

    @property
    def is_bounce(self) -> bool:
        return self.bounce is not None

    @property
    def is_autoreply(self) -> bool:
        return self.autoreply is not None

    @property
    def return_text(self) -> str | None:
        """An out-of-office's return date as written ("back on 12 January"), when it gives one."""
        return self.autoreply.return_text if self.autoreply else None


def parse_inbound(raw: bytes) -> InboundMail:
    unreadable = too_complex(raw)
    if unreadable is None:
        msg: EmailMessage = email.message_from_bytes(raw, policy=email.policy.default)
    else:
        msg = BytesHeaderParser(policy=email.policy.default).parsebytes(raw)
    from_name, from_address = _first_address(msg, "from")
    subject = _header(msg, "subject") or ""
    if unreadable is None:
        text, html, body_parts = _bodies(msg)
        reply = split_reply(text, forward=bool(_FORWARD_SUBJECT.match(subject))) if text else None
        attachments = [_attachment(p) for p in _attachment_parts(msg, body_parts)]
        bounce = read_bounce(msg, subject=subject, from_address=from_address)
    else:
        text, html, reply, attachments, bounce = f"[{unreadable}: the body was not read]", None, None, [], None
    languages = [*_content_languages(msg), *(reply.languages if reply else ())]
    return InboundMail(
        from_address=from_address,
        from_name=from_name,
        to_addresses=_addresses(msg, "to"),
        cc_addresses=_addresses(msg, "cc"),
        delivered_to=_addresses(msg, "delivered-to") + _addresses(msg, "x-original-to"),
        subject=subject,
        message_id=_msgid(_header(msg, "message-id")),
        in_reply_to=_msgid(_header(msg, "in-reply-to")),
        references=_msgids(_header(msg, "references")),
        date=_date(msg),
        text=text,
        html=html,
        reply_text=reply.text if reply else "",
        attachments=attachments,
        forwarded=reply.forwarded if reply else None,
        own_text=reply.own_text if reply else "",
        language_hints=tuple(dict.fromkeys(languages)),
        bounce=bounce,
        # A bounce carries Auto-Submitted too; it is a bounce, not an automatic reply.
        autoreply=None if bounce else read_autoreply(msg, subject=subject, text=reply.own_text if reply else ""),
        unreadable=unreadable,
    )


def too_complex(raw: bytes) -> str | None:
    """Why the message is over the structure bounds, or None. Counted on the raw bytes (every
    Content-Type header, wherever it is), so nothing recursive has run yet."""
    parts = containers = 0
    for m in _CONTENT_TYPE.finditer(raw):
        parts += 1
        containers += m.group(1).lower() in _CONTAINERS
        if containers > MAX_CONTAINERS:
            return f"more than {MAX_CONTAINERS} nested or multipart parts"
        if parts > MAX_PARTS:
            return f"more than {MAX_PARTS} parts"
    return None


def extract_reply_token(addresses: Iterable[str], *, mailbox: str | None = None) -> str | None:
    """The <token> of the first `local+<token>@domain` address, e.g. collections+c8f3a2@acme.example.

    With `mailbox`, only addresses whose local part before the "+" is that mailbox count, so a
    customer's own plus address in Cc is not mistaken for ours.
    """
    for value in addresses:
        _, addr = parseaddr(value)
        local, at, _domain = addr.rpartition("@")
        if not at or "+" not in local:
            continue
        base, _, token = local.partition("+")
        if mailbox is not None and base.lower() != mailbox.lower():
            continue
        if re.fullmatch(r"[A-Za-z0-9._=-]+", token):
            return token
    return None


# --------------------------------------------------------------------------- headers


def _clean(value: str, limit: int = MAX_HEADER_CHARS) -> str:
    return storable(value, limit)


def _header(msg: EmailMessage, name: str) -> str | None:
    try:
        value = msg[name]
    except (IndexError, TypeError, ValueError, HeaderParseError):
        # The policy's parser gives up on some broken headers; the raw value, decoded by hand,
        # is better than losing the whole message.
        raw = next((v for k, v in msg.raw_items() if k.lower() == name), None)
        value = str(make_header(decode_header(raw))) if raw is not None else None
    if value is None:
        return None
    # RFC 2047 words are decoded by the policy; folding whitespace is not always collapsed.
    return re.sub(r"\s*\n\s*", " ", _clean(str(value))).strip()


def _addresses(msg: EmailMessage, name: str) -> list[str]:
    out: list[str] = []
    try:
        values = msg.get_all(name, [])
    except (IndexError, TypeError, ValueError, HeaderParseError):
        values = [v for k, v in msg.raw_items() if k.lower() == name]
    for value in values:
        try:
            out.extend(a.addr_spec for a in value.addresses if a.addr_spec)
        except (AttributeError, IndexError, ValueError):
            out.extend(addr for _, addr in getaddresses([str(value)]) if addr)
    return [a for a in map(_clean, out) if "@" in a.strip("<>@") and len(a) <= MAX_ADDRESS]


def _first_address(msg: EmailMessage, name: str) -> tuple[str | None, str | None]:
    try:
        value = msg.get(name)
        if value is None:
            return None, None
        address = value.addresses[0]
        display, addr = address.display_name, address.addr_spec
    except (AttributeError, IndexError, TypeError, ValueError, HeaderParseError):
        raw = next((v for k, v in msg.raw_items() if k.lower() == name), "")
        display, addr = parseaddr(str(raw))
    display, addr = _clean(display or "", 200).strip(), _clean(addr or "").strip()
    # A null sender ("<>", bounces), a bare "@" or more than an address can hold is no address.
    usable = "@" in addr.strip("<>@") and len(addr) <= MAX_ADDRESS
    return display or None, addr if usable else None


def _msgid(value: str | None) -> str | None:
    if not value:
        return None
    m = re.search(r"<[^<>\s]+>", value)
    msgid = m.group(0) if m else f"<{value.strip('<> ')}>"
    return msgid if 2 < len(msgid) <= MAX_MESSAGE_ID else None


def _msgids(value: str | None) -> list[str]:
    return [m for m in re.findall(r"<[^<>\s]+>", value or "") if len(m) <= MAX_MESSAGE_ID]


def _date(msg: EmailMessage) -> datetime | None:
    try:
        value = msg["date"]
        return value.datetime if value is not None else None
    except (AttributeError, TypeError, ValueError):
        return None


def _content_languages(msg: EmailMessage) -> list[str]:
    value = _header(msg, "content-language") or ""
    return [tag.split("-")[0].lower() for tag in re.findall(r"[A-Za-z]{2,3}(?:-[A-Za-z0-9]{1,8})*", value)][:3]


# --------------------------------------------------------------------------- bodies


def _bodies(msg: EmailMessage) -> tuple[str, str | None, set[int]]:
    """(the text read, the HTML if any, ids of the body parts): the plain part when it has words,
    else the HTML with its quotes marked."""
    plain_part, html_part = _body_part(msg, "plain"), _body_part(msg, "html")
    plain = decode_text(plain_part) if plain_part is not None else None
    html = decode_text(html_part) if html_part is not None else None
    body_parts = {id(p) for p in (plain_part, html_part) if p is not None}
    # Some clients send an empty text/plain next to the real HTML.
    if plain is not None and plain.strip():
        return tidy(plain), html, body_parts
    if html is not None:
        return html_to_text(html, mark_quotes=True), html, body_parts
    if not msg.is_multipart() and msg.get_content_maintype() == "multipart":
        # Declared multipart without a usable boundary: the parser leaves the body as one string.
        return tidy(decode_text(msg)), None, body_parts
    return "", None, body_parts


def _body_part(msg: EmailMessage, subtype: str) -> EmailMessage | None:
    part = msg.get_body(preferencelist=(subtype,))
    if part is None or part.get_content_subtype() != subtype:
        return None
    return part


# Labels that lie. Mail declared iso-8859-1 is very often windows-1252 (curly quotes, the euro sign
# in 0x80-0x9f; browsers decode that label as windows-1252 for the same reason), and "us-ascii" is
# often UTF-8 from a client that never looked. Valid UTF-8 is almost never an accident, so for these
# labels UTF-8 is tried first, then windows-1252, then latin-1 (which cannot fail).
_LOOSE_LABELS = {"iso-8859-1", "iso8859-1", "latin-1", "latin1", "us-ascii", "ascii", "windows-1252", "cp1252"}


def decode_text(part: EmailMessage) -> str:
    payload = part.get_payload(decode=True) or b""
    declared = (part.get_content_charset() or "us-ascii").lower()
    candidates = ["utf-8", "cp1252"] if declared in _LOOSE_LABELS else [declared, "utf-8", "cp1252"]
    for charset in candidates:
        try:
            return payload.decode(charset)
        except (LookupError, UnicodeDecodeError):
            continue
    return payload.decode("latin-1")


def _attachment_parts(msg: EmailMessage, body_parts: set[int]) -> list[EmailMessage]:
    out = []
    for part in msg.walk():
        if part.is_multipart() or id(part) in body_parts:
            continue
        # Anything named, marked as an attachment, or not text (inline logos included) is listed.
        named = part.get_content_disposition() == "attachment" or part.get_filename()
        if named or part.get_content_maintype() not in ("text", "multipart"):
            out.append(part)
    return out


def _attachment(part: EmailMessage) -> Attachment:
    content = part.get_payload(decode=True) or b""
    return Attachment(
        filename=_clean(part.get_filename() or "", 255) or None,
        content_type=part.get_content_type(),
        size=len(content),
        content=content,
    )
