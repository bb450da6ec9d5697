"""Inbound email: headers, body, attachments, and the part of a reply the customer actually wrote.

`reply_text` is what goes to the intent reader: quoted earlier messages, attribution lines
("On ... wrote:", "Le ... a écrit :"), Outlook header blocks, signatures and sign-offs are cut, so
our own reminder quoted underneath ("... to stop these reminders, reply STOP") is never read as the
customer's words. When in doubt the cutting keeps text rather than dropping it: a person reads
what the rules could not.
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
from email.utils import getaddresses, parseaddr
from html.parser import HTMLParser


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
    reply_text: str
    attachments: list[Attachment]

    @property
    def recipients(self) -> list[str]:
        return [*self.to_addresses, *self.cc_addresses, *self.delivered_to]


def parse_inbound(raw: bytes) -> InboundMail:
    msg: EmailMessage = email.message_from_bytes(raw, policy=email.policy.default)  # type: ignore[assignment]

    from_name, from_address = _first_address(msg, "from")
    plain_part = _body_part(msg, "plain")
    html_part = _body_part(msg, "html")
    plain = _decode_text(plain_part) if plain_part is not None else None
    html = _decode_text(html_part) if html_part is not None else None

    # Some clients send an empty text/plain next to the real HTML.
    if plain is not None and plain.strip():
        text = _tidy(plain)
        reply = strip_reply(text)
    elif html is not None:
        text = html_to_text(html)
        reply = strip_reply(html_to_text(html, drop_quotes=True))
    elif not msg.is_multipart() and msg.get_content_maintype() == "multipart":
        # Declared multipart without a usable boundary: the parser leaves the body as one string.
        text = _tidy(_decode_text(msg))
        reply = strip_reply(text)
    else:
        text, reply = "", ""

    body_parts = {id(p) for p in (plain_part, html_part) if p is not None}
    return InboundMail(
        from_address=from_address,
        from_name=from_name,
        to_addresses=_addresses(msg, "to"),
        cc_addresses=_addresses(msg, "cc"),
        delivered_to=_addresses(msg, "delivered-to") + _addresses(msg, "x-original-to"),
        subject=_header(msg, "subject") or "",
        message_id=_msgid(_header(msg, "message-id")),
        in_reply_to=_msgid(_header(msg, "in-reply-to")),
        references=re.findall(r"<[^<>\s]+>", _header(msg, "references") or ""),
        date=_date(msg),
        text=text,
        html=html,
        reply_text=reply,
        attachments=[_attachment(p) for p in _attachment_parts(msg, body_parts)],
    )


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
    return re.sub(r"\s*\n\s*", " ", str(value)).strip()


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
    return [a for a in out if "@" in a.strip("<>@")]


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
    # A null sender ("<>", bounces) or a bare "@" is no address.
    return display or None, addr if addr and "@" in addr.strip("<>@") else None


def _msgid(value: str | None) -> str | None:
    if not value:
        return None
    m = re.search(r"<[^<>\s]+>", value)
    return m.group(0) if m else f"<{value.strip('<> ')}>"


def _date(msg: EmailMessage) -> datetime | None:
    try:
        value = msg["date"]
        return value.datetime if value is not None else None
    except (AttributeError, TypeError, ValueError):
        return None


# --------------------------------------------------------------------------- bodies


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


def _decode_text(part: EmailMessage) -> str:
    payload = part.get_payload(decode=True) or b""
    declared = (part.get_content_charset() or "us-ascii").lower()
    candidates = ["utf-8", "cp1252"] if declared in _LOOSE_LABELS else [declared, "utf-8", "cp1252"]
    for charset in candidates:
        try:
            return payload.decode(charset)
        except (LookupError, UnicodeDecodeError):
            continue
    return payload.decode("latin-1")


def _tidy(text: str) -> str:
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\u00a0", " ")
    text = re.sub(r"[ \t]+\n", "\n", text)
    return re.sub(r"\n{3,}", "\n\n", text).strip()


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
        filename=part.get_filename(),
        content_type=part.get_content_type(),
        size=len(content),
        content=content,
    )


# --------------------------------------------------------------------------- HTML


class _HTMLToText(HTMLParser):
    _SKIP = {"script", "style", "head", "title", "template"}
    # Line breaks as a mail client shows them: a <div> or <li> starts a new line, a paragraph is
    # set off by a blank line, <br> always breaks.
    _LINE = {"div", "li", "tr", "ul", "ol", "section", "article", "header", "footer", "hr", "pre", "dt", "dd"}
    _PARAGRAPH = {"p", "blockquote", "table", "h1", "h2", "h3", "h4", "h5", "h6"}
    _VOID = {"br", "hr", "img", "meta", "link", "input", "wbr", "col", "area", "base", "source"}

    def __init__(self, drop_quotes: bool):
        super().__init__(convert_charrefs=True)
        self.drop_quotes = drop_quotes
        self.parts: list[str] = []
        self.stack: list[tuple[str, bool]] = []  # (tag, hides its content)
        self.hidden = 0
        self.cut = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if self.cut:
            return
        a = {k: (v or "") for k, v in attrs}
        if self.drop_quotes and _starts_quoted_history(tag, a):
            # Outlook puts the earlier message after a separator, not inside an element.
            self.cut = True
            return
        hides = tag in self._SKIP or (self.drop_quotes and _is_quote(tag, a))
        if tag not in self._VOID:
            self.stack.append((tag, hides))
            self.hidden += hides
        if tag == "br":
            self._emit("\n")
        else:
            self._break(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        if tag not in self._VOID:
            self.handle_endtag(tag)

    def handle_endtag(self, tag: str) -> None:
        if self.cut:
            return
        # Tolerate unclosed tags: pop up to the matching one.
        for i in range(len(self.stack) - 1, -1, -1):
            if self.stack[i][0] == tag:
                for _, hides in self.stack[i:]:
                    self.hidden -= hides
                del self.stack[i:]
                break
        self._break(tag)

    def handle_data(self, data: str) -> None:
        if not self.cut:
            self._emit(re.sub(r"\s+", " ", data))

    def _emit(self, text: str) -> None:
        if not self.hidden:
            self.parts.append(text)

    def _break(self, tag: str) -> None:
        wanted = 1 if tag in self._LINE else 2 if tag in self._PARAGRAPH else 0
        if not wanted or self.hidden:
            return
        tail = "".join(self.parts[-6:]).rstrip(" ")
        have = len(tail) - len(tail.rstrip("\n"))
        self.parts.append("\n" * max(0, wanted - have))


def _is_quote(tag: str, a: dict[str, str]) -> bool:
    classes = a.get("class", "").split()
    return (
        (tag == "blockquote" and a.get("type", "").lower() == "cite")
        or "gmail_quote" in classes
        or "gmail_signature" in classes
        or "yahoo_quoted" in classes
        or "moz-cite-prefix" in classes
        or a.get("id") in ("Signature", "signature")
        or (tag == "blockquote" and "gmail_quote" in classes)
    )


def _starts_quoted_history(tag: str, a: dict[str, str]) -> bool:
    return a.get("id") in ("divRplyFwdMsg", "appendonsend", "x_divRplyFwdMsg") or (
        tag == "div" and "OutlookMessageHeader" in a.get("class", "")
    )


def html_to_text(html: str, *, drop_quotes: bool = False) -> str:
    parser = _HTMLToText(drop_quotes)
    parser.feed(html)
    parser.close()
    lines = [line.strip() for line in "".join(parser.parts).split("\n")]
    return _tidy("\n".join(lines))


# --------------------------------------------------------------------------- the new part of a reply


# Where the quoted earlier message starts. Each is a whole line (or two, for wrapped attributions).
_HISTORY_MARKERS = [
    re.compile(p, re.IGNORECASE)
    for p in (
        r"^-{2,}\s*(?:original message|message d'origine|message original|forwarded message|message transféré)\s*-{2,}$",
        r"^_{10,}$",  # Outlook's line above its From:/Sent: block
        r"^(?:begin forwarded message|début du message réexpédié)\s*:?$",
    )
]
# "On Wed, 19 Mar 2025 at 10:15, Acme <x@y> wrote:" / "Le mer. 19 mars 2025 à 10:15, Acme a écrit :"
_ATTRIBUTION_START = re.compile(r"^(?:on|le)\s.+", re.IGNORECASE)
_ATTRIBUTION_END = re.compile(r"(?:wrote|a écrit|a ecrit)\s*:\s*$", re.IGNORECASE)
# Outlook's header block: "From: ..." then "Sent:"/"Date:" within the next lines; in French
# "De : ..." then "Envoyé :".
_HEADER_FROM = re.compile(r"^\*?(?:from|de)\s*:\*?\s*\S", re.IGNORECASE)
_HEADER_NEXT = re.compile(r"^\*?(?:sent|date|envoyé|envoye|to|à|objet|subject)\s*:", re.IGNORECASE)
# Signatures: the standard "-- " delimiter, phone footers.
_SIGNATURE_MARKERS = [
    re.compile(p, re.IGNORECASE)
    for p in (
        r"^--\s?$",
        r"^(?:sent|envoyé|envoye) (?:from|de|depuis) (?:my|mon|ma) .{2,40}$",
        r"^(?:get|obtenir|téléchargez|telechargez) outlook (?:for|pour) .{2,20}$",
        r"^sent from (?:yahoo )?mail for .{2,30}$",
    )
]
# Sign-offs that end the message body when only a short signature follows.
_SIGN_OFF = re.compile(
    r"^(?:best regards|kind regards|warm regards|regards|best wishes|best|many thanks|thanks|thank you|"
    r"thx|cheers|sincerely|yours sincerely|yours faithfully|yours truly|"
    r"cordialement|bien cordialement|très cordialement|tres cordialement|bien à vous|bien a vous|"
    r"salutations|sincères salutations|meilleures salutations|bonne journée|bonne soirée|merci|"
    r"merci d'avance|merci beaucoup|à bientôt|a bientot)\b[\s,.!]*(?:\S.{0,40})?$",
    re.IGNORECASE,
)
_MAX_SIGNATURE_LINES = 8


def strip_reply(text: str) -> str:
    lines = text.replace("\r\n", "\n").split("\n")
    kept: list[str] = []
    for i, line in enumerate(lines):
        stripped = line.strip()
        if _starts_history(lines, i) or any(m.match(stripped) for m in _SIGNATURE_MARKERS):
            break
        # Inline ("> ") quotes are dropped line by line: answers written between them are kept.
        if stripped.startswith(">"):
            continue
        kept.append(line.rstrip())
    kept = _cut_sign_off(kept)
    return _tidy("\n".join(kept))


def _starts_history(lines: list[str], i: int) -> bool:
    line = lines[i].strip()
    if any(m.match(line) for m in _HISTORY_MARKERS):
        return True
    if _ATTRIBUTION_START.match(line) and not re.search(r"[.!?]$", line):
        # Gmail wraps long attributions: "On Wed, ... Acme Collections <" / "x@y> wrote:".
        joined = line
        for following in lines[i + 1 : i + 3]:
            if _ATTRIBUTION_END.search(joined) or _ATTRIBUTION_START.match(following.strip()):
                break
            joined += " " + following.strip()
        return bool(_ATTRIBUTION_END.search(joined)) and len(joined) < 300
    if _HEADER_FROM.match(line):
        return any(_HEADER_NEXT.match(l.strip()) for l in lines[i + 1 : i + 4])
    return False


def _cut_sign_off(lines: list[str]) -> list[str]:
    # Cut at the last sign-off that has content above it and only a short signature below it
    # (name, title, company, phone). "Thanks" alone, with nothing above, is the message itself.
    for i in range(len(lines) - 1, 0, -1):
        if not _SIGN_OFF.match(lines[i].strip()):
            continue
        above = [l for l in lines[:i] if l.strip()]
        below = [l for l in lines[i + 1 :] if l.strip()]
        if above and len(below) <= _MAX_SIGNATURE_LINES and all(len(l.strip()) <= 60 for l in below):
            return lines[:i]
    return lines
